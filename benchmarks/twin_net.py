"""A Differential-ML twin network, written from Huge & Savine's description (2020).

Independent of the ``sobolev`` library on purpose: it is the reference the estimator is
measured against, so it shares none of its code (plain torch, its own loop).

What the paper describes, and what is done here:

* a feed-forward network of 4 hidden layers of 20 softplus units on inputs and labels
  standardised by their means and standard deviations (derivative labels rescaled by
  the chain rule, ``dv_j = dy_j * s_x_j / s_y``);
* the "twin": the network's input gradient, by back-propagation through the same
  weights, is compared with the pathwise derivative labels;
* the loss ``alpha * MSE(v) + (1 - alpha) * mean_j MSE(lambda_j * dv_j)`` with
  ``alpha = 1 / (1 + d)`` and ``lambda_j = 1 / rms(dv_j)``; without derivative labels
  the classical network minimises ``MSE(v)``;
* Adam, ``epochs`` = 100 passes, each split into ``max(256, N / 16)``-sized minibatches
  (about 16 per epoch), reshuffled every epoch;
* a one-cycle learning rate, linear between the knots
  ``(0, 1e-8), (0.2, 0.1), (0.6, 0.01), (0.9, 1e-6), (1, 1e-8)`` of the training
  progress.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

KNOTS = ((0.0, 1e-8), (0.2, 0.1), (0.6, 0.01), (0.9, 1e-6), (1.0, 1e-8))


def one_cycle(progress: float) -> float:
    """Learning rate at ``progress`` in [0, 1] (piecewise linear through :data:`KNOTS`)."""
    xs, ys = zip(*KNOTS, strict=True)
    return float(np.interp(progress, xs, ys))


class TwinNet:
    """Huge & Savine's twin network (module docstring), with a scikit-learn-like API.

    Parameters
    ----------
    hidden : tuple of int
    epochs : int
    batches_per_epoch : int
    min_batch : int
    seed : int
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (20, 20, 20, 20),
        epochs: int = 100,
        batches_per_epoch: int = 16,
        min_batch: int = 256,
        seed: int = 0,
    ) -> None:
        self.hidden, self.epochs, self.seed = hidden, epochs, seed
        self.batches_per_epoch, self.min_batch = batches_per_epoch, min_batch

    def _network(self, d: int) -> nn.Module:
        torch.manual_seed(self.seed)
        layers, width = [], d
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.Softplus()]
            width = h
        return nn.Sequential(*layers, nn.Linear(width, 1))

    def fit(self, X: np.ndarray, y: np.ndarray, dy: np.ndarray | None = None) -> TwinNet:
        """Fit on inputs (N, d), values (N,) and, for the twin net, derivatives (N, d)."""
        self.mx, self.sx = X.mean(0), X.std(0)
        self.my, self.sy = y.mean(), y.std()
        u = torch.tensor((X - self.mx) / self.sx, dtype=torch.float32)
        v = torch.tensor((y - self.my) / self.sy, dtype=torch.float32)[:, None]
        n, d = u.shape
        twin = dy is not None
        if twin:
            dv_np = dy * self.sx / self.sy
            lam = torch.tensor(1.0 / np.sqrt((dv_np**2).mean(0)), dtype=torch.float32)
            dv = torch.tensor(dv_np, dtype=torch.float32)
            alpha = 1.0 / (1.0 + d)
        with torch.random.fork_rng(devices=[]):
            self.net = self._network(d)
            opt = torch.optim.Adam(self.net.parameters())
            batch = min(n, max(self.min_batch, n // self.batches_per_epoch))
            per_epoch = max(1, n // batch)
            total, step = self.epochs * per_epoch, 0
            gen = torch.Generator().manual_seed(self.seed)
            for _ in range(self.epochs):
                perm = torch.randperm(n, generator=gen)
                for b in range(per_epoch):
                    idx = perm[b * batch : (b + 1) * batch]
                    for group in opt.param_groups:
                        group["lr"] = one_cycle(step / total)
                    ub = u[idx].requires_grad_(twin)
                    pred = self.net(ub)
                    loss = ((pred - v[idx]) ** 2).mean()
                    if twin:
                        (g,) = torch.autograd.grad(pred.sum(), ub, create_graph=True)
                        dloss = ((lam * (g - dv[idx])) ** 2).mean()
                        loss = alpha * loss + (1 - alpha) * dloss
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        u = torch.tensor((X - self.mx) / self.sx, dtype=torch.float32)
        with torch.no_grad():
            return self.net(u)[:, 0].double().numpy() * self.sy + self.my

    def predict_gradient(self, X: np.ndarray) -> np.ndarray:
        u = torch.tensor((X - self.mx) / self.sx, dtype=torch.float32, requires_grad=True)
        (g,) = torch.autograd.grad(self.net(u).sum(), u)
        return g.double().numpy() * self.sy / self.sx
