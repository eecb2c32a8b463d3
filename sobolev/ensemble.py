"""Vectorised training of an ensemble of identical-architecture MLPs.

Many tiny trainings (one per seed, per method, per data set) are dominated by Python
and kernel-launch overhead when run one at a time. :class:`MLPEnsemble` stacks the
weights of ``E`` independent MLPs as tensors of shape (E, in, out) and evaluates all
members with batched matrix products (``torch.baddbmm``/``torch.bmm``); each member
sees its own inputs (E, N, d).

Input Jacobians are formed by an explicit reverse pass through the layers,

.. math::
    J = W_1^T \\,\\mathrm{diag}(\\sigma'(a_1))\\, W_2^T \\cdots
        \\mathrm{diag}(\\sigma'(a_L))\\, W_{\\mathrm{out}}^T,

written with batched matmuls, so the Sobolev loss costs about two forward passes and
composes with ``backward()`` for the parameter gradients (second-order terms through
:math:`\\sigma'` are kept for smooth activations; for ReLU :math:`\\sigma'` is a
constant mask, as in autograd's double backward). Members share no parameters, so
the gradient of the summed loss with respect to member ``e`` is member ``e``'s own
gradient, and Adam (elementwise) on the stacked tensors is Adam on each member.

:func:`fit_ensemble` reproduces :func:`sobolev.fit` with
``SobolevLoss(order<=1, weights=(w0, w1))`` for every member at once: with the same
initial weights (:meth:`MLPEnsemble.from_seeds` builds them with :class:`sobolev.MLP`),
the same data and the same seed, the numbers agree to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sobolev._training import (
    EarlyStopping,
    check_early_stopping,
    check_schedule,
    check_seed,
    minibatches,
    train,
)
from sobolev._validation import as_tensor, check_finite
from sobolev.activations import get_activation
from sobolev.models import MLP, check_hidden

__all__ = ["MLPEnsemble", "fit_ensemble"]


class MLPEnsemble(nn.Module):
    """``E`` independent MLPs of one architecture, evaluated with batched matmuls.

    Member ``e`` computes ``h_0 = x_e``, ``h_l = sigma(h_{l-1} W_l[e] + b_l[e])`` and a
    linear output, exactly like :class:`sobolev.MLP`.

    Parameters
    ----------
    layers : sequence of Tensor
        Per layer, the weight matrices of every member, shape (E, in, out) (the
        transpose of ``nn.Linear.weight``); one matrix per layer is a linear model.
    biases : sequence of Tensor
        Per layer, shape (E, 1, out).
    activation : str
        One of :data:`sobolev.activations.REGISTRY`.

    Attributes
    ----------
    layers, biases : nn.ParameterList
    n_members, in_dim, out_dim : int
    """

    def __init__(
        self,
        layers: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        activation: str = "relu",
    ) -> None:
        super().__init__()
        act = get_activation(activation)
        layers, biases = list(layers), list(biases)
        if len(layers) != len(biases) or not layers:
            raise ValueError("layers and biases must be non-empty sequences of equal length")
        if not all(isinstance(t, torch.Tensor) for t in (*layers, *biases)):
            raise ValueError("layers and biases must hold torch Tensors")
        e = layers[0].shape[0] if layers[0].ndim == 3 else None
        for i, (w, b) in enumerate(zip(layers, biases, strict=True)):
            if w.ndim != 3 or w.shape[0] != e:
                raise ValueError(
                    f"layers[{i}] must have shape (E, in, out) with E = {e} as layers[0], "
                    f"got {tuple(w.shape)}"
                )
            if tuple(b.shape) != (e, 1, w.shape[2]):
                raise ValueError(
                    f"biases[{i}] must have shape ({e}, 1, {w.shape[2]}), got {tuple(b.shape)}"
                )
            if i and w.shape[1] != layers[i - 1].shape[2]:
                raise ValueError(
                    f"layers[{i}] has input width {w.shape[1]} but layers[{i - 1}] has output "
                    f"width {layers[i - 1].shape[2]}"
                )
        self.layers = nn.ParameterList([nn.Parameter(w.detach().clone()) for w in layers])
        self.biases = nn.ParameterList([nn.Parameter(b.detach().clone()) for b in biases])
        self.activation = activation
        self._sigma, self._sigma_prime = act.sigma, act.sigma_prime
        self.n_members = e
        self.in_dim = layers[0].shape[1]
        self.out_dim = layers[-1].shape[2]

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_models(cls, models: Sequence[MLP]) -> MLPEnsemble:
        """Stack the layer matrices of :class:`sobolev.MLP` models of one architecture."""
        models = list(models)
        if not models or not all(isinstance(m, MLP) for m in models):
            raise ValueError("models must be a non-empty sequence of sobolev.MLP")
        arch = {(m.in_dim, m.out_dim, m.hidden, m.activation) for m in models}
        if len(arch) != 1:
            raise ValueError(f"models must share one architecture, got {sorted(arch)}")
        linears = [[mod for mod in m if isinstance(mod, nn.Linear)] for m in models]
        layers = [
            torch.stack([lin[i].weight.detach().T for lin in linears])
            for i in range(len(linears[0]))
        ]
        biases = [
            torch.stack([lin[i].bias.detach()[None, :] for lin in linears])
            for i in range(len(linears[0]))
        ]
        return cls(layers, biases, models[0].activation)

    @classmethod
    def from_seeds(
        cls,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        activation: str,
        seeds: Sequence[int],
        *,
        dtype: torch.dtype | None = None,
    ) -> MLPEnsemble:
        """One member per seed, initialised exactly as ``sobolev.MLP(..., seed=s)``."""
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must hold at least one seed")
        hidden = check_hidden(hidden)
        models = [MLP(in_dim, out_dim, hidden, activation, seed=int(s), dtype=dtype) for s in seeds]
        return cls.from_models(models)

    def to_models(self) -> list[MLP]:
        """Each member as an independent :class:`sobolev.MLP` (weights copied)."""
        hidden = tuple(w.shape[2] for w in self.layers[:-1])
        out = []
        for e in range(self.n_members):
            m = MLP(self.in_dim, self.out_dim, hidden, self.activation, dtype=self.dtype)
            lins = [mod for mod in m if isinstance(mod, nn.Linear)]
            with torch.no_grad():
                for lin, w, b in zip(lins, self.layers, self.biases, strict=True):
                    lin.weight.copy_(w[e].T)
                    lin.bias.copy_(b[e, 0])
            out.append(m)
        return out

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].dtype

    def extra_repr(self) -> str:
        widths = [self.in_dim, *(w.shape[2] for w in self.layers)]
        return f"members={self.n_members}, widths={widths}, activation={self.activation!r}"

    # -- evaluation --------------------------------------------------------------------
    def _members_inputs(self, x: Any) -> torch.Tensor:
        t = as_tensor(x, "x", like=self.layers[0])
        if t.ndim == 2:
            t = t.unsqueeze(0).expand(self.n_members, -1, -1)
        if t.ndim != 3 or t.shape[0] != self.n_members or t.shape[2] != self.in_dim:
            raise ValueError(
                f"x must have shape (N, d) or (E, N, d) with E = {self.n_members}, "
                f"d = {self.in_dim}; got shape {tuple(t.shape)}"
            )
        return t

    def _forward(
        self, x: torch.Tensor, need_jacobian: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, slopes = x, []
        for w, b in zip(self.layers[:-1], self.biases[:-1], strict=True):
            a = torch.baddbmm(b, h, w)
            h = self._sigma(a)
            if need_jacobian:
                slopes.append(self._sigma_prime(a))
        y = torch.baddbmm(self.biases[-1], h, self.layers[-1])
        if not need_jacobian:
            return y, None
        e, n, m = y.shape
        if not slopes:
            # A linear model: every sample's Jacobian is the member's own matrix.
            jac = self.layers[0].transpose(1, 2).unsqueeze(1).expand(e, n, m, self.in_dim)
        elif m == 1:
            # The backward signal is carried transposed, g^T of shape (E, width, N), so
            # that every product is bmm(W, g^T): the parameter gradient of both the
            # forward and the Jacobian path then lands in W's own (E, in, out) layout
            # and accumulates without strided copies.
            g = self.layers[-1] * slopes[-1].transpose(1, 2)
            for w, s in zip(reversed(self.layers[1:-1]), reversed(slopes[:-1]), strict=True):
                g = torch.bmm(w, g) * s.transpose(1, 2)
            jac = torch.bmm(self.layers[0], g).transpose(1, 2).unsqueeze(2)
        else:
            g = self.layers[-1].transpose(1, 2).unsqueeze(1) * slopes[-1].unsqueeze(2)
            for w, s in zip(reversed(self.layers[1:-1]), reversed(slopes[:-1]), strict=True):
                g = torch.bmm(g.reshape(e, n * m, -1), w.transpose(1, 2)).reshape(e, n, m, -1)
                g = g * s.unsqueeze(2)
            jac = torch.bmm(g.reshape(e, n * m, -1), self.layers[0].transpose(1, 2))
            jac = jac.reshape(e, n, m, -1)
        return y, jac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every member, shape (E, N, m), for inputs (E, N, d) or shared (N, d)."""
        return self._forward(self._members_inputs(x), False)[0]

    def value_and_jacobian(
        self, x: Any, *, create_graph: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs (E, N, m) and input Jacobians (E, N, m, d) of every member.

        Parameters
        ----------
        x : array or Tensor, shape (E, N, d) or (N, d) (shared by all members)
        create_graph : bool
            Keep the graph to the parameters (needed inside a loss).
        """
        x = self._members_inputs(x)
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            return self._forward(x, True)

    @torch.no_grad()
    def predict(
        self, x: Any, *, jacobian: bool = True, chunk: int = 4096
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Detached outputs (E, N, m) and Jacobians (E, N, m, d) in chunks of ``chunk`` samples."""
        x = self._members_inputs(x)
        ys, js = [], []
        for start in range(0, x.shape[1], chunk):
            y, j = self._forward(x[:, start : start + chunk], jacobian)
            ys.append(y)
            js.append(j)
        return torch.cat(ys, 1), (torch.cat(js, 1) if jacobian else None)


def _as_members(value: Any, name: str, like: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    t = as_tensor(value, name, like=like)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    check_finite(t, name)
    return t


def _member_data(ensemble: MLPEnsemble, x, y, dy, need_dy: bool, prefix: str = "") -> tuple:
    """Check and convert one member-stacked data set: x (E, N, d), y (E, N, m), dy."""
    ref = ensemble.layers[0]
    e, d, m = ensemble.n_members, ensemble.in_dim, ensemble.out_dim
    xt = as_tensor(x, f"{prefix}x", like=ref)
    if xt.ndim != 3 or xt.shape[0] != e or xt.shape[2] != d or xt.shape[1] < 1:
        raise ValueError(
            f"{prefix}x must have shape (E, N, d) = ({e}, N, {d}), got {tuple(xt.shape)}"
        )
    check_finite(xt, f"{prefix}x")
    n = xt.shape[1]
    yt = as_tensor(y, f"{prefix}y", like=ref)
    if yt.ndim == 2 and m == 1:
        yt = yt.unsqueeze(2)
    yt = _as_members(yt, f"{prefix}y", ref, (e, n, m))
    dyt = None
    if need_dy:
        if dy is None:
            raise ValueError(f"{prefix}dy is needed when any member has w1 > 0 (Sobolev training)")
        dyt = as_tensor(dy, f"{prefix}dy", like=ref)
        if dyt.ndim == 3 and m == 1:
            dyt = dyt.unsqueeze(2)
        dyt = _as_members(dyt, f"{prefix}dy", ref, (e, n, m, d))
    return xt, yt, dyt


def _member_losses(ensemble, x, y, dy, w0, w1) -> tuple[torch.Tensor, ...]:
    """Per-member weighted total, order-0 and order-1 terms (None without dy), each (E,)."""
    pred, jac = ensemble._forward(x, dy is not None)
    l0 = ((pred - y) ** 2).sum(2).mean(1)
    total = w0 * l0
    l1 = None
    if dy is not None:
        l1 = ((jac - dy) ** 2).sum((2, 3)).mean(1)
        total = total + w1 * l1
    return total, l0, l1


def fit_ensemble(
    ensemble: MLPEnsemble,
    x: Any,
    y: Any,
    dy: Any = None,
    *,
    weights: Any = (1.0, 1.0),
    steps: int = 1000,
    lr: float = 1e-3,
    schedule: Literal["constant", "cosine"] = "constant",
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    validation: tuple | None = None,
    val_metric: Literal["values", "loss"] = "values",
    eval_every: int = 1,
    patience: int | None = None,
    tol: float = 0.0,
) -> dict[str, np.ndarray]:
    """Train every member of ``ensemble`` on its own data with Adam, all at once.

    Member ``e`` minimises ``w0[e] mean_i |m_e(x_ei) - y_ei|^2 + w1[e] mean_i
    |J_e(x_ei) - dy_ei|_F^2``: :class:`sobolev.SobolevLoss` with ``order=1,
    weights=(w0, w1)`` (``w1 = 0`` is regular training, ``order=0``).

    Parameters
    ----------
    ensemble : MLPEnsemble
        Trained in place.
    x : array or Tensor, shape (E, N, d)
        Training inputs of each member.
    y : array or Tensor, shape (E, N, m) or (E, N)
    dy : array or Tensor, shape (E, N, m, d) or (E, N, d); optional
        Target input derivatives; needed when any ``w1`` is positive.
    weights : sequence of 2 floats, or array (E, 2)
        Per-order loss weights ``(w0, w1)`` for all members, or per member (the same
        meaning as in :class:`sobolev.SobolevLoss`).
    steps : int
        Adam steps (full batch unless ``batch_size``).
    lr : float
        Initial learning rate.
    schedule : {"constant", "cosine"}
        Learning rate per step as in :func:`sobolev.fit`.
    batch_size : int, optional
        Minibatches from one permutation per epoch shared by all members, drawn
        exactly as :func:`sobolev.fit` draws them for ``seed``.
    seed : int
        Seeds the minibatch order.
    progress : bool
        tqdm bar (see :func:`sobolev.fit.progress_enabled`).
    validation : (x_val, y_val) or (x_val, y_val, dy_val), optional
        Held-out data per member, shapes (E, N_val, d), (E, N_val, m) or (E, N_val),
        (E, N_val, m, d) or (E, N_val, d). Evaluated and restored per member as in
        :func:`sobolev.fit`: each member keeps its own best state, and a member that
        has run out of patience keeps the state it stopped with, so every member
        ends as its own :func:`sobolev.fit` run would. Training ends when every
        member has stopped.
    val_metric : {"values", "loss"}
        As in :func:`sobolev.fit`; ``"loss"`` uses each member's ``(w0, w1)`` and
        needs ``dy_val`` when any ``w1`` is positive.
    eval_every, patience, tol
        As in :func:`sobolev.fit`.

    Returns
    -------
    dict of str to ndarray
        ``"total"``, ``"order0"``, ``"order1"`` per step and member, shape (steps, E)
        (unweighted terms; ``order1`` is 0 where no derivatives were fitted), and
        ``"lr"`` (steps,); ``steps`` is the number of steps run. With ``validation``
        also ``"val_step"`` (n_evals,), ``"val"`` (n_evals, E), and per member
        ``"best_step"``, ``"best_val"`` and ``"stopped_step"`` (E,).

    Raises
    ------
    ValueError
        On inconsistent shapes or settings, before any training.
    FloatingPointError
        If some member's loss becomes NaN or inf; the message names step and members.
    """
    if not isinstance(ensemble, MLPEnsemble):
        raise ValueError(f"ensemble must be an MLPEnsemble, got {type(ensemble).__name__}")
    ref = ensemble.layers[0]
    e = ensemble.n_members
    w = as_tensor(weights, "weights", like=ref)
    if w.ndim == 1:
        w = w.unsqueeze(0).expand(e, -1)
    if tuple(w.shape) != (e, 2) or not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(
            f"weights must be 2 finite non-negative floats (w0, w1) or shape ({e}, 2), "
            f"got {tuple(w.shape)}"
        )
    sobolev = bool((w[:, 1] > 0).any())
    xt, yt, dyt = _member_data(ensemble, x, y, dy, sobolev)
    n = xt.shape[1]
    steps, batch_size = check_schedule(steps, lr, schedule, batch_size, n)
    seed = check_seed(seed)
    eval_every, patience, tol = check_early_stopping(
        validation, val_metric, eval_every, patience, tol
    )
    w0, w1 = w[:, 0], w[:, 1]
    early = None
    if validation is not None:
        if not (isinstance(validation, tuple | list) and len(validation) in (2, 3)):
            raise ValueError(
                "validation must be (x_val, y_val) or (x_val, y_val, dy_val), "
                f"got {type(validation).__name__}"
            )
        need = sobolev and val_metric == "loss"
        dy_val = validation[2] if len(validation) == 3 else None
        xv, yv, dyv = _member_data(ensemble, *validation[:2], dy_val, need, "validation ")
        if val_metric == "values":
            dyv = None

        def evaluate() -> torch.Tensor:
            total, l0, _ = _member_losses(ensemble, xv, yv, dyv, w0, w1)
            return total if val_metric == "loss" else l0

        early = EarlyStopping(
            evaluate, list(ensemble.parameters()), e, eval_every=eval_every,
            patience=patience, tol=tol, member_axis=True,
        )  # fmt: skip

    opt = torch.optim.Adam(list(ensemble.parameters()), lr=lr, fused=True)
    hist = {k: torch.zeros(steps, e, dtype=ref.dtype) for k in ("total", "order0", "order1")}
    lrs = np.zeros(steps)
    batches = minibatches(n, batch_size, torch.Generator().manual_seed(seed))
    checked = [0]

    def step_loss(step: int, idx: torch.Tensor | None) -> torch.Tensor:
        if idx is None:
            xb, yb, dyb = xt, yt, dyt
        else:
            xb, yb = xt[:, idx], yt[:, idx]
            dyb = None if dyt is None else dyt[:, idx]
        total, l0, l1 = _member_losses(ensemble, xb, yb, dyb, w0, w1)
        if l1 is not None:
            hist["order1"][step] = l1.detach()
        hist["order0"][step] = l0.detach()
        hist["total"][step] = total.detach()
        return total.sum()

    def after_step(step: int, step_lr: float) -> str | None:
        lrs[step] = step_lr
        # Checking every step would synchronise with the device each time.
        if step % 100 == 99 or step == steps - 1:
            _check_finite_rows(hist["total"], checked[0], step + 1)
            checked[0] = step + 1
            return f"{float(hist['total'][step].mean()):.3g}"
        return None

    with torch.random.fork_rng(devices=[]):
        ran = train(
            opt, step_loss, lr=lr, schedule=schedule, steps=steps, batches=batches,
            after_step=after_step, progress=progress, desc="ensemble", early=early,
        )  # fmt: skip
    _check_finite_rows(hist["total"], checked[0], ran)
    out = {k: v[:ran].numpy() for k, v in hist.items()}
    out["lr"] = lrs[:ran]
    if early is not None:
        out.update({k: v.numpy() for k, v in early.restore(ran).items()})
    return out


def _check_finite_rows(total: torch.Tensor, start: int, stop: int) -> None:
    rows = total[start:stop]
    bad = ~torch.isfinite(rows)
    if bool(bad.any()):
        first = start + int(bad.any(1).nonzero()[0])
        members = bad.any(0).nonzero().flatten().tolist()
        raise FloatingPointError(
            f"loss of member(s) {members} became non-finite at step {first}; "
            "lower lr or check the targets' scale"
        )
