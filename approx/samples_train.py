"""Training cells of the sample-complexity study (see :mod:`.sample_complexity`).

One cell is one (function, dim, activation, n): every (seed, method) is a member of
one float64 :class:`sobolev.ensemble.MLPEnsemble` trained on the first ``n`` points
of the seed's sample pool (nested training sets; regular and Sobolev members of a seed
share the data and the initial weights) by :func:`.training.train_members` (Adam,
then L-BFGS). The convergence rule is applied to the objective on fresh points of
the target, which only *monitor* training (``restore_best=False``): the network kept
is the final one, shaped by the ``n`` points alone.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from sobolev.ensemble import MLPEnsemble
from sobolev_lab.approx.common import ScaledNetwork, errors_of, scaled_data, scaling_of
from sobolev_lab.approx.common import target_function as _target
from sobolev_lab.approx.training import train_members

__all__ = ["METHODS", "METRICS", "run_cell"]

METRICS = ("l2", "w12")
#: Method -> (derivative order, weighting). "balanced" weights order 1 by
#: ``1 / mean |dt/du|^2`` of the scaled target (fixed Sobol points, not the training
#: set), so both terms start at comparable size; "unit" is the paper's default.
METHODS: dict[str, tuple[int, str]] = {
    "order0": (0, "unit"),
    "order1": (1, "balanced"),
    "order1_unit": (1, "unit"),
}


def _data(config: dict[str, Any], seed: int) -> tuple[np.ndarray, ...]:
    # One pool per seed; the first n points form the (nested) training set.
    f = _target(config["function"], config["dim"])
    x = f.sample(config["pool_size"], seed=20_000 + seed)[: config["n"]]
    u, t, dt, _ = scaled_data(config["function"], config["dim"], x, 1)
    return u, t, dt


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one cell; raises on non-finite losses or errors."""
    torch.set_num_threads(1)
    name, dim, quality = config["function"], config["dim"], config["norm_quality"]
    scaling = scaling_of(name, dim)
    members = [(s, m) for s in config["seeds"] for m in config["methods"]]
    data = [_data(config, s) for s, _ in members]
    stacked = tuple(np.stack([d[i] for d in data]) for i in range(3))
    monitor = [_data(dict(config, n=1024, pool_size=1024), 50_000 + s) for s, _ in members]
    monitor = tuple(np.stack([d[i] for d in monitor]) for i in range(3))
    ens = MLPEnsemble.from_seeds(
        dim, 1, config["hidden"], config["activation"], [s for s, _ in members],
        dtype=torch.float64,
    )  # fmt: skip
    w1 = {"order0": 0.0, "order1": 1.0 / scaling.grad_sq_mean, "order1_unit": 1.0}
    t0 = time.perf_counter()
    reports = train_members(
        ens, stacked, monitor, np.array([(1.0, w1[m]) for _, m in members]),
        adam_steps=config["adam_steps"], lr=config["lr"], lbfgs_iters=config["lbfgs_iters"],
        eval_every=config["eval_every"], restore_best=False,
    )  # fmt: skip
    train_seconds = time.perf_counter() - t0
    rows = []
    for (s, m), net, rep in zip(members, ens.to_models(), reports, strict=True):
        errs = errors_of(ScaledNetwork(net, scaling), name, dim, METRICS, quality)
        rows.append({"seed": s, "method": m, "order": METHODS[m][0], **rep, **errs})
    return {"members": rows, "train_seconds": train_seconds}
