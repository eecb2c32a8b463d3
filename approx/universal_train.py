"""Training cells of the universal-approximation study (see :mod:`.universal`).

One cell is one (target, activation, width): every (seed, method) is a member of one
float64 :class:`sobolev.ensemble.MLPEnsemble` trained by :func:`.training.train_members`
(with ``init="spread"`` first :func:`.init.spread_init`; then Adam, then L-BFGS; regular
and Sobolev members of a seed share the hidden layer's initial weights and the data).
For ReLU in 1-D the cell also trains, per seed, a ``warm_start`` member: regular
training started from the explicit interpolant of the same width
(:func:`sobolev_lab.theory.constructions.relu_universal.relu_interpolant_1d`, mapped to
the scaled coordinates), to see whether the optimiser keeps the construction.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from sobolev.ensemble import MLPEnsemble
from sobolev_lab.approx.common import METRICS, ScaledNetwork, errors_of, scaled_data, scaling_of
from sobolev_lab.approx.common import target_function as _target
from sobolev_lab.approx.init import spread_init
from sobolev_lab.approx.training import train_members
from sobolev_lab.theory.constructions.relu_universal import relu_interpolant_1d

__all__ = ["METHOD_WEIGHTS", "construction_members", "n_points", "run_cell"]

#: Method -> (w0, w1) of the loss; None is replaced by ``1 / mean |dt/du|^2`` of the
#: target ("balanced": both terms start at comparable size, as in Differential ML).
#: ``warm_start`` is regular training from the explicit construction.
METHOD_WEIGHTS = {
    "regular": (1.0, 0.0),
    "sobolev": (1.0, 1.0),
    "sobolev_balanced": (1.0, None),
    "warm_start": (1.0, 0.0),
}


def n_points(dim: int, width: int, per_param: int, cap: int) -> int:
    """Training points of a one-hidden-layer net: ``per_param`` x parameters, at most
    ``cap * dim`` (compute)."""
    return int(min(per_param * ((dim + 2) * width + 1), cap * dim))


def _interpolant(name: str, dim: int, width: int) -> torch.nn.Sequential:
    f = _target(name, dim)
    lo, hi = float(f.domain.lower[0]), float(f.domain.upper[0])
    return relu_interpolant_1d(lambda t: f.value(t[:, None]), lo, hi, width + 1)


def construction_members(name: str, width: int, count: int) -> MLPEnsemble:
    """``count`` copies of the 1-D interpolant of ``width`` units in scaled coordinates.

    The interpolant ``h(x) = b + sum_j c_j relu(a_j x + t_j)`` becomes, with
    ``x = center + half * u`` and ``t = (h - mean) / std``, the network
    ``u -> (b - mean) / std + sum_j (c_j / std) relu(a_j half u + a_j center + t_j)``.
    """
    hidden, _, output = _interpolant(name, 1, width)
    sc = scaling_of(name, 1)
    half, center = float(sc.half[0]), float(sc.center[0])
    with torch.no_grad():
        a, t = hidden.weight[:, 0], hidden.bias
        w1 = (a * half)[None, :]  # (1, width)
        b1 = (a * center + t)[None, :]
        w2 = (output.weight[0] / sc.std)[:, None]  # (width, 1)
        b2 = ((output.bias - sc.mean) / sc.std)[None, :]
    stack = lambda m: m[None].expand(count, *m.shape).clone()  # noqa: E731
    return MLPEnsemble([stack(w1), stack(w2)], [stack(b1), stack(b2)], "relu")


def _weights(methods: list[str], balanced: float) -> list[list[float]]:
    """``(w0, w1)`` per member, the balanced weight filled in."""
    return [[w0, balanced if w1 is None else w1] for w0, w1 in (METHOD_WEIGHTS[m] for m in methods)]


def _data(name: str, dim: int, n: int, seed: int) -> tuple[np.ndarray, ...]:
    u, t, dt, _ = scaled_data(name, dim, _target(name, dim).sample(n, seed=seed), order=1)
    return u, t, dt


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Compute one cell (see module docstring); raises on non-finite losses or errors."""
    torch.set_num_threads(1)
    name, dim, quality = config["function"], config["dim"], config["norm_quality"]
    metrics = tuple(METRICS)
    if config["kind"] == "construction":
        return {
            "errors": errors_of(
                _interpolant(name, dim, config["width"]), name, dim, metrics, quality
            )
        }
    width, seeds = config["width"], config["seeds"]
    methods = list(config["methods"])
    members = [(s, m) for s in seeds for m in methods]
    n = config["n_train"]
    stack = lambda rows: tuple(np.stack([r[i] for r in rows]) for i in range(3))  # noqa: E731
    ens = MLPEnsemble.from_seeds(
        dim, 1, [width], config["activation"], [s for s, _ in members], dtype=torch.float64
    )
    balanced = 1.0 / scaling_of(name, dim).grad_sq_mean
    # Warm-start members (appended below) train on their seed's data too.
    train = [_data(name, dim, n, 10_000 + s) for s, _ in members]
    if config.get("init", "default") == "spread":
        u, t, dt = (torch.as_tensor(a) for a in stack(train))
        w = torch.tensor(_weights([m for _, m in members], balanced))
        spread_init(ens, u, t, [s for s, _ in members], dy=dt, weights=w)
    if config.get("warm_start"):
        warm = construction_members(name, width, len(seeds))
        ens = MLPEnsemble(
            [torch.cat([a, b]) for a, b in zip(ens.layers, warm.layers, strict=True)],
            [torch.cat([a, b]) for a, b in zip(ens.biases, warm.biases, strict=True)],
            "relu",
        )
        members += [(s, "warm_start") for s in seeds]
        train += train[:: len(methods)]
    val = [_data(name, dim, max(n // 4, 64), 30_000 + s) for s, _ in members]
    weights = np.array(_weights([m for _, m in members], balanced))
    start = [copy.deepcopy(net) for net in ens.to_models()] if config.get("warm_start") else None
    t0 = time.perf_counter()
    reports = train_members(
        ens, stack(train), stack(val), weights,
        adam_steps=config["adam_steps"], lr=config["lr"], lbfgs_iters=config["lbfgs_iters"],
        eval_every=config["eval_every"],
    )  # fmt: skip
    train_seconds = time.perf_counter() - t0
    scaling = scaling_of(name, dim)
    rows = []
    nets = ens.to_models()
    for i, ((s, m), net, rep) in enumerate(zip(members, nets, reports, strict=True)):
        row = {"seed": s, "method": m, **rep}
        row.update(errors_of(ScaledNetwork(net, scaling), name, dim, metrics, quality))
        if m == "warm_start":
            # How far training moved from the construction: relative parameter change.
            p0 = torch.cat([p.detach().flatten() for p in start[i].parameters()])
            p1 = torch.cat([p.detach().flatten() for p in net.parameters()])
            row["param_shift"] = float((p1 - p0).norm() / p0.norm())
        rows.append(row)
    return {"members": rows, "train_seconds": train_seconds}
