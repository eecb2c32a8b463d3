"""Converged float64 training for the approx studies: Adam, then L-BFGS, per member.

The approximation studies ask how well a network *can* fit a smooth target, so the
optimiser must not be the bottleneck. Every network is trained in float64, first by
full-batch Adam with a cosine schedule (all members of a cell at once: Adam is
per-parameter, so members stay independent), then by L-BFGS with a backtracking (Armijo) line
search per member (:class:`.lbfgs.BatchedLBFGS`: one curvature history and one
line search per member, vectorised over the members).

The held-out objective (the member's own loss on held-out points) is evaluated every
``eval_every`` iterations of either phase; the member keeps its best held-out state
(the protocol's "restore the best weights"), and convergence is judged by
:func:`sobolev_lab.protocol.converged`: the best held-out loss improved by < 1% over the
last quarter of the iteration budget ``adam_steps + lbfgs_iters``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sobolev.ensemble import MLPEnsemble
from sobolev_lab.approx.lbfgs import BatchedLBFGS
from sobolev_lab.protocol import converged

__all__ = ["train_members"]


def _losses(ens: MLPEnsemble, x, y, dy, w0, w1, decay) -> tuple[torch.Tensor, ...]:
    """Per-member objective, value and gradient terms, each (E,)."""
    pred, jac = ens._forward(x, dy is not None)
    l0 = ((pred[..., 0] - y) ** 2).mean(1)
    l1 = ((jac[:, :, 0, :] - dy) ** 2).sum(2).mean(1) if dy is not None else torch.zeros_like(l0)
    total = w0 * l0 + w1 * l1
    if decay is not None:
        total = total + decay * sum((w**2).sum((1, 2)) for w in ens.layers)
    return total, l0, l1


def train_members(
    ens: MLPEnsemble,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    weights: np.ndarray,
    *,
    adam_steps: int,
    lr: float,
    lbfgs_iters: int,
    eval_every: int = 50,
    weight_decay: Sequence[float] | None = None,
    restore_best: bool = True,
) -> list[dict[str, Any]]:
    """Train every member of a float64 ``ens`` in place and report on each.

    Parameters
    ----------
    ens : MLPEnsemble
        float64, E members, scalar output.
    data, val : (x, y, dy)
        Training and held-out data per member, shapes (E, N, d), (E, N), (E, N, d).
    weights : ndarray, shape (E, 2)
        ``(w0, w1)`` of each member's loss (``w1 = 0``: value-only training).
    adam_steps, lbfgs_iters : int
        Iterations of each phase (``adam_steps`` may be 0).
    lr : float
        Initial Adam learning rate (cosine schedule to 0).
    eval_every : int
        Held-out evaluation period, in iterations of either phase.
    weight_decay : sequence of E floats, optional
        L2 penalty on the weight matrices added to each member's objective.
    restore_best : bool
        Keep each member's best held-out state (early stopping). With False the
        held-out points only monitor convergence and the final state is kept, so that
        no labelled data beyond ``data`` shapes the network.

    Returns
    -------
    list of dict, one per member
        ``train_loss`` (objective), ``train_order0``, ``train_order1`` (unweighted
        terms, training data), ``val_loss`` (best held-out objective), ``grad_norm``
        (Euclidean norm of the objective's parameter gradient at the kept state),
        ``iterations`` (budget), ``lbfgs_stopped`` (iterations L-BFGS ran),
        ``converged`` (the protocol's rule).

    Raises
    ------
    FloatingPointError
        If a training or held-out loss becomes non-finite at the kept state.
    """
    if ens.dtype != torch.float64:
        raise ValueError(f"ens must be float64, got {ens.dtype}")
    if adam_steps < 0 or lbfgs_iters < 1 or eval_every < 1:
        raise ValueError("adam_steps >= 0, lbfgs_iters >= 1 and eval_every >= 1 are required")
    x, y, dy = (torch.as_tensor(a, dtype=torch.float64) for a in data)
    xv, yv, dyv = (torch.as_tensor(a, dtype=torch.float64) for a in val)
    w = torch.as_tensor(weights, dtype=torch.float64)
    e = ens.n_members
    decay = None if weight_decay is None else torch.as_tensor(weight_decay, dtype=torch.float64)
    budget = adam_steps + lbfgs_iters
    # Per member: (iteration, held-out objective) pairs and the best state so far.
    curves: list[list[tuple[int, float]]] = [[] for _ in range(e)]
    best: list[tuple[float, list | None]] = [(math.inf, None)] * e

    def record(step: int, net: MLPEnsemble, members: list[int]) -> None:
        dec = None if decay is None else decay[members]
        with torch.no_grad():
            loss = _losses(net, xv[members], yv[members], dyv[members], *_w(members), dec)[0]
        for j, m in enumerate(members):
            v = float(loss[j])
            v = v if math.isfinite(v) else math.inf
            curves[m].append((step, v))
            if v < best[m][0]:
                best[m] = (v, [p[j].detach().clone() for p in net.parameters()])

    def _w(members: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return w[members, 0], w[members, 1]

    everyone = list(range(e))
    if adam_steps:
        opt = torch.optim.Adam(list(ens.parameters()), lr=lr)
        for step in range(adam_steps):
            if step % eval_every == 0:
                record(step, ens, everyone)
            for g in opt.param_groups:
                g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / adam_steps))
            opt.zero_grad(set_to_none=True)
            total = _losses(ens, x, y, dy, w[:, 0], w[:, 1], decay)[0]
            if not torch.isfinite(total).all():
                # Diverged members go on to L-BFGS from their best held-out state.
                break
            total.sum().backward()
            opt.step()
        # Continue every member from its best state so far (Adam may have overshot);
        # without restore_best only a member that diverged is set back.
        with torch.no_grad():
            final = _losses(ens, x, y, dy, w[:, 0], w[:, 1], decay)[0]
            for m in everyone:
                if best[m][1] is not None and (restore_best or not torch.isfinite(final[m])):
                    for p, b in zip(ens.parameters(), best[m][1], strict=True):
                        p[m] = b
    opt = BatchedLBFGS(
        list(ens.parameters()), lambda: _losses(ens, x, y, dy, w[:, 0], w[:, 1], decay)[0]
    )
    step = adam_steps
    while step < budget:
        record(step, ens, everyone)
        chunk = min(eval_every, budget - step)
        opt.step(chunk)
        step += chunk
    record(budget, ens, everyone)
    ran = opt.moves.tolist()
    if restore_best:
        with torch.no_grad():
            for m in everyone:
                for p, b in zip(ens.parameters(), best[m][1], strict=True):
                    p[m] = b
    return _reports(ens, (x, y, dy), w, decay, curves, budget, ran)


def _reports(ens, data, w, decay, curves, budget, ran) -> list[dict[str, Any]]:
    for p in ens.parameters():
        p.grad = None
    total, l0, l1 = _losses(ens, *data, w[:, 0], w[:, 1], decay)
    total.sum().backward()
    sq = sum((p.grad**2).flatten(1).sum(1) for p in ens.parameters())
    total, l0, l1 = total.detach(), l0.detach(), l1.detach()
    out = []
    for m in range(ens.n_members):
        steps = [float(s) for s, _ in curves[m]]
        vals = [v for _, v in curves[m]]
        if not math.isfinite(float(total[m])) or not math.isfinite(min(vals)):
            raise FloatingPointError(f"member {m}: non-finite loss after training")
        out.append(
            {
                "train_loss": float(total[m]),
                "train_order0": float(l0[m]),
                "train_order1": float(l1[m]),
                "val_loss": float(min(vals)),
                "grad_norm": float(sq[m].sqrt()),
                "iterations": int(budget),
                "lbfgs_iters": int(ran[m]),
                "converged": converged(vals, steps, budget=budget),
            }
        )
    return out
