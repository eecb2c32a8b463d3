"""L-BFGS for a stack of independent problems, one curvature history per member.

``torch.optim.LBFGS`` over an ensemble's parameters would treat E independent fits
as one problem: one line search and one curvature history for all, so members of
very different loss scales hold each other back. Here every member has its own
two-loop recursion and its own backtracking (Armijo) line search, all vectorised
over the member axis: one batched evaluation serves every member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["BatchedLBFGS"]


class BatchedLBFGS:
    """Minimise ``loss(params) -> (E,)`` for parameters whose first axis is the member.

    Parameters
    ----------
    params : sequence of Tensor
        Leaf tensors of shape (E, ...), updated in place.
    loss : callable
        Returns the per-member objective, shape (E,); member e's value may depend
        only on member e's slices.
    history : int
        Curvature pairs kept per member.
    """

    def __init__(
        self, params: Sequence[torch.Tensor], loss: Callable[[], torch.Tensor], history: int = 20
    ) -> None:
        self.params = list(params)
        self.loss = loss
        self.history = int(history)
        self.e = self.params[0].shape[0]
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.f, self.g = self._eval_grad()
        self.iterations = 0
        #: Members still iterating: a member whose line search finds no decrease (at
        #: float64 round-off, or with a zero gradient) stops for good.
        self.active = torch.isfinite(self.f) & (self.g.abs().amax(1) > 0)
        #: Iterations with a step, per member, shape (E,).
        self.moves = torch.zeros(self.e, dtype=torch.long)

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(self.e, -1) for p in self.params], 1)

    def _set(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            k = 0
            for p in self.params:
                n = p[0].numel()
                p.copy_(x[:, k : k + n].reshape(p.shape))
                k += n

    def _eval_grad(self) -> tuple[torch.Tensor, torch.Tensor]:
        for p in self.params:
            p.grad = None
        f = self.loss()
        f.sum().backward()
        g = torch.cat([p.grad.reshape(self.e, -1) for p in self.params], 1)
        return f.detach(), g

    def _direction(self) -> torch.Tensor:
        q = self.g.clone()
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y), strict=True):
            sy = (s * y).sum(1)
            rho = torch.where(sy > 0, 1.0 / sy.clamp_min(1e-300), torch.zeros_like(sy))
            a = rho * (s * q).sum(1)
            q = q - a[:, None] * y
            alphas.append((a, rho))
        if self.s:
            s, y = self.s[-1], self.y[-1]
            sy, yy = (s * y).sum(1), (y * y).sum(1)
            gamma = torch.where((sy > 0) & (yy > 0), sy / yy.clamp_min(1e-300), 1.0)
        else:
            gamma = 1.0 / self.g.norm(dim=1).clamp_min(1.0)
        r = gamma[:, None] * q
        for (s, y), (a, rho) in zip(
            zip(self.s, self.y, strict=True), reversed(alphas), strict=True
        ):
            b = rho * (y * r).sum(1)
            r = r + (a - b)[:, None] * s
        d = -r
        # Not a descent direction (stale curvature): fall back to steepest descent.
        bad = (d * self.g).sum(1) >= 0
        return torch.where(bad[:, None], -self.g * gamma[:, None], d)

    def step(self, iterations: int) -> None:
        """Run up to ``iterations`` L-BFGS iterations for every active member."""
        for _ in range(iterations):
            if not self.active.any():
                return
            x, d = self._flat(), self._direction()
            slope = (d * self.g).sum(1)
            t = torch.ones(self.e, dtype=x.dtype)
            done = ~self.active
            for _ in range(30):
                self._set(x + t[:, None] * d)
                with torch.no_grad():
                    f = self.loss()
                ok = torch.isfinite(f) & (f <= self.f + 1e-4 * t * slope)
                done = done | ok
                if done.all():
                    break
                t = torch.where(done, t, 0.5 * t)
            moved = done & self.active
            self.active = moved
            self.moves += moved.long()
            t = torch.where(moved, t, torch.zeros_like(t))
            self._set(x + t[:, None] * d)
            f, g = self._eval_grad()
            s, y = t[:, None] * d, g - self.g
            # Members without a step keep their history (their pair would be zero).
            self.s.append(s)
            self.y.append(y)
            if len(self.s) > self.history:
                self.s.pop(0)
                self.y.pop(0)
            self.f, self.g = f, g
            self.iterations += 1
