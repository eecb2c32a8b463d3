"""The classical and the twin (differential) network of Huge & Savine, trained through sobolev.

Both are the same 4x20 softplus MLP on standardised data, trained with Adam under a
one-cycle learning-rate schedule for ``epochs`` epochs of ``batches`` minibatches. The
classical net fits values only; the twin net fits values and pathwise deltas with the
Differential-ML loss

    alpha * MSE(v) + (1 - alpha) * mean_j MSE(lambda_j * dv_j),

``alpha = 1 / (1 + d)`` and ``lambda_j = 1 / rms(dv_j)`` on standardised labels. The
per-input weights are realised exactly by feeding the net ``u / lambda`` through a fixed
diagonal layer (so the net still sees ``u``) and scaling the derivative labels by
``lambda``: the derivative residual of input ``j`` is then multiplied by ``lambda_j``.
:class:`sobolev.SobolevLoss` with weights ``(alpha, (1 - alpha) / d)`` gives the sum.

After every epoch the value MSE on held-out paths is recorded; the weights of the best
epoch are restored (early stopping without stopping: the schedule runs to its end).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sobolev import MLP, SobolevLoss, Target
from sobolev._training import minibatches
from sobolev.standardize import Standardizer

__all__ = ["TrainedNet", "converged", "train_net"]


class _Scale(nn.Module):
    """Fixed per-input multiplication (not trained)."""

    def __init__(self, scale: np.ndarray, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


@dataclass
class TrainedNet:
    """A fitted net in original units, with its training record.

    Attributes
    ----------
    model : nn.Module
        Maps standardised, lambda-divided inputs (N, d) to standardised values (N, 1).
    std : Standardizer
    lam : ndarray, shape (d,)
    val_curve : list of float
        Held-out value MSE (original units) after each epoch.
    best_epoch : int
    fit_seconds : float
    final_terms : dict of str to float
        The last epoch's mean unweighted loss terms (standardised units).
    """

    model: nn.Module
    std: Standardizer
    lam: np.ndarray
    val_curve: list[float]
    best_epoch: int
    fit_seconds: float
    final_terms: dict[str, float]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (n,) and deltas (n, d) in original units at spots ``x`` (n, d)."""
        u, _, _, _ = self.std.transform(x)
        xt = torch.tensor(u / self.lam, dtype=torch.float32, requires_grad=True)
        v = self.model(xt)[:, 0]
        (dv,) = torch.autograd.grad(v.sum(), xt)
        # Back through the lambda division, then to original units.
        dv = dv.detach().double().numpy() / self.lam
        v = v.detach().double().numpy()
        _, y, dy, _ = self.std.inverse(None, v, dv)
        return y, dy


def converged(curve: list[float], tol: float = 0.01) -> bool:
    """The protocol's rule: the best held-out loss improved by < ``tol`` (relative)
    over the last quarter of the budget."""
    c = np.minimum.accumulate(np.asarray(curve, dtype=np.float64))
    q = max(1, len(c) // 4)
    before, after = c[-q - 1] if len(c) > q else c[0], c[-1]
    return bool(before - after < tol * before)


def _val_mse(model, xv, yv) -> float:
    with torch.no_grad():
        return float(((model(xv)[:, 0] - yv) ** 2).mean())


def train_net(
    x: np.ndarray,
    y: np.ndarray,
    dy: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    differential: bool,
    lr: float,
    weight_decay: float = 0.0,
    alpha: float | None = None,
    projections: int | None = None,
    hidden: tuple[int, ...] = (20, 20, 20, 20),
    epochs: int = 100,
    batches: int = 16,
    min_batch: int = 256,
    seed: int = 0,
) -> TrainedNet:
    """Train the classical (``differential=False``) or the twin net.

    Parameters
    ----------
    x, y, dy : ndarray, shapes (n, d), (n,), (n, d)
        Training spots and noisy pathwise labels (``dy`` unused by the classical net).
    x_val, y_val : ndarray, shapes (n_val, d), (n_val,)
        Held-out paths for the per-epoch value MSE and the best-epoch restore.
    differential : bool
    lr : float
        Peak learning rate of the one-cycle schedule.
    weight_decay : float
        Adam's L2 weight decay.
    alpha : float, optional
        Value weight; default ``1 / (1 + d)`` (Differential ML).
    projections : int, optional
        Stochastic Sobolev training with this many random directions instead of the
        full gradient.
    hidden : tuple of int
    epochs, batches, min_batch : int
        ``epochs`` passes of ``batches`` minibatches of ``max(min_batch, n // batches)``.
    seed : int
        Initial weights and minibatch order.

    Returns
    -------
    TrainedNet
    """
    n, d = x.shape
    if alpha is None:
        alpha = 1.0 / (1.0 + d)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha!r}")
    std = Standardizer.fit(x, y)
    u, v, dv, _ = std.transform(x, y, dy)
    rms = np.sqrt((dv**2).mean(axis=0))
    # An input with no derivative signal (never in the money) keeps weight 1.
    lam = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0) if differential else np.ones(d)
    net = MLP(d, 1, hidden, "softplus", seed=seed)
    model = nn.Sequential(_Scale(lam), net)
    xt = torch.tensor(u / lam, dtype=torch.float32)
    if differential:
        target = Target.from_arrays(
            torch.tensor(v, dtype=torch.float32), torch.tensor(dv * lam, dtype=torch.float32)
        )
        loss = SobolevLoss(order=1, weights=(alpha, (1 - alpha) / d), projections=projections)
    else:
        target = Target.from_arrays(torch.tensor(v, dtype=torch.float32))
        loss = SobolevLoss(order=0)
    uv, _, _, _ = std.transform(x_val)
    xv = torch.tensor(uv / lam, dtype=torch.float32)
    # Held-out error in original units: standardised MSE times y_scale^2.
    yv = torch.tensor(std.transform(None, y_val)[1], dtype=torch.float32)
    scale2 = float(std.y_scale[0] ** 2)

    batch = min(n, max(min_batch, n // batches))
    steps = epochs * batches
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    draws = minibatches(n, batch, generator)
    curve: list[float] = []
    best, best_state, best_epoch = np.inf, None, -1
    terms = {"order0": 0.0, "order1": 0.0}
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(epochs):
            sums = dict.fromkeys(terms, 0.0)
            for _ in range(batches):
                idx = next(draws)
                xb, tb = (xt, target) if idx is None else (xt[idx], target[idx])
                opt.zero_grad(set_to_none=True)
                value = loss(model, xb, tb, generator=generator)
                if not np.isfinite(loss.components["total"]):
                    raise FloatingPointError(
                        f"loss became {loss.components['total']} at epoch {epoch}; lower lr"
                    )
                value.backward()
                opt.step()
                sched.step()
                for k in sums:
                    sums[k] += loss.components.get(k, 0.0) / batches
            terms = sums
            mse = _val_mse(model, xv, yv) * scale2
            curve.append(mse)
            if mse < best:
                best, best_epoch = mse, epoch
                best_state = copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - t0
    if best_state is None:
        raise FloatingPointError("the held-out loss was never finite")
    model.load_state_dict(best_state)
    return TrainedNet(model, std, lam, curve, best_epoch, seconds, terms)
