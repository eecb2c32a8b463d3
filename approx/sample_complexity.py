"""Sample complexity of regular vs Sobolev training (paper RQ1).

For registry targets (Styblinski-Tang, a sum of 1-D quartics, and Rosenbrock, a
non-separable quartic) in several dimensions, a fixed MLP is trained to convergence
(float64; full-batch Adam, then L-BFGS: :mod:`.training`) on the first ``n`` points
of one uniform sample per seed (nested training sets), for ``n`` on a log grid, by
three methods (:data:`METHODS`): ``order0`` (values), ``order1`` (values + gradients,
balanced weights) and ``order1_unit`` (unit weights, the paper's default). The error
on the whole domain is measured with :mod:`sobolev_lab.theory.norms` in L^2 and W^{1,2}
(relative to the target's norm). Power laws ``error ~ C n^-a`` are fitted per
(function, dim, activation, method) over ``n >= fit_min_n`` with intervals over seeds;
from the measured curves we report the samples needed to reach target errors and the
ratio ``n_order0 / n_method`` (geometric-mean curves, and paired over seeds with a t
interval), next to the counting heuristic ``C(d + k, k)`` (``1 + d`` for k = 1) and
the exact polynomial counting of :func:`sobolev_lab.theory.sample_complexity.predicted_points`
(with its Alexander-Hirschowitz exceptions).

Modules: this one holds the configuration, the cells and ``STUDY``;
:mod:`.samples_train` the cells' training, :mod:`.samples_summary` the summary
(``curves``, ``samples_to_target``, ``rows``, ``verdicts``, ``convergence``) and tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sobolev._validation import check_positive_int
from sobolev.models import ACTIVATIONS
from sobolev_lab.approx.common import target_function as _target
from sobolev_lab.approx.samples_summary import constraints_per_sample, render, summarise
from sobolev_lab.approx.samples_train import METHODS, run_cell
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.study import Study

__all__ = [
    "METHODS",
    "STUDY",
    "SamplesConfig",
    "cells",
    "constraints_per_sample",
    "run_cell",
    "summarise",
]


@dataclass(frozen=True)
class SamplesConfig(StudyConfig):
    """Error vs number of training points per derivative order (the defaults are ``full``)."""

    functions: tuple[str, ...] = param(
        ["styblinski_tang", "rosenbrock"], "registry targets of sobolev_lab.theory.functions"
    )
    dims: tuple[int, ...] = param([1, 2, 4, 8], "input dimensions (rosenbrock needs d >= 2)")
    activations: tuple[str, ...] = param(["tanh"], "activations of sobolev.models")
    methods: tuple[str, ...] = param(
        ["order0", "order1", "order1_unit"], f"methods, from {tuple(METHODS)}"
    )
    n: tuple[int, ...] = param(
        [4, 16, 64, 256, 1024, 4096], "training-set sizes, strictly increasing (nested sets)"
    )
    hidden: tuple[int, ...] = param([32, 32], "hidden widths of the MLP")
    seeds: tuple[int, ...] = param([0, 1, 2], "seeds (data pool and initial weights per seed)")
    adam_steps: int = param(100, "full-batch Adam steps (cosine schedule) before L-BFGS")
    lr: float = param(1e-2, "initial Adam learning rate")
    lbfgs_iters: int = param(600, "L-BFGS iterations after Adam (backtracking line search)")
    eval_every: int = param(50, "evaluation period of the convergence curve, in iterations")
    fit_min_n: int = param(16, "smallest n used by the power-law fits")
    targets_l2: tuple[float, ...] = param(
        [0.3, 0.1, 0.03, 0.01], "relative L^2 error levels of the samples-to-target table"
    )
    targets_w12: tuple[float, ...] = param(
        [0.5, 0.3, 0.1], "relative W^{1,2} error levels of the samples-to-target table"
    )
    norm_quality: Literal["low", "high"] = param("high", "quadrature of the error norms")
    # Both targets are quartics: the exact polynomial counting of
    # theory.sample_complexity for degree 4 is reported next to C(d + k, k).
    counting_degree: int | None = param(4, "polynomial degree of the exact counting (or none)")

    def validate(self) -> None:
        ns = self.n
        if not ns or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in ns):
            raise ValueError(f"n must be a non-empty list of positive integers, got {ns!r}")
        if sorted(set(ns)) != list(ns):
            raise ValueError(f"n must be strictly increasing, got {ns!r}")
        if not self.methods or set(self.methods) - set(METHODS):
            raise ValueError(f"methods must be a subset of {list(METHODS)}, got {self.methods!r}")
        if not self.dims or not self.functions:
            raise ValueError("dims and functions: need at least one of each")
        if not self.seeds:
            raise ValueError("seeds: need at least one seed")
        for name in self.functions:
            for dim in self.dims:
                if not (name == "rosenbrock" and dim == 1):
                    _target(name, dim)
        for act in self.activations:
            if act not in ACTIVATIONS:
                raise ValueError(f"activations: unknown activation {act!r}")
        for w in self.hidden:
            check_positive_int(w, "hidden")
        for key in ("adam_steps", "lbfgs_iters", "eval_every", "fit_min_n"):
            check_positive_int(getattr(self, key), key)
        if not (isinstance(self.lr, float) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a positive finite float, got {self.lr!r}")
        for key in ("targets_l2", "targets_w12"):
            if any(isinstance(t, bool) or not 0 < t < math.inf for t in getattr(self, key)):
                raise ValueError(f"{key} must be positive floats, got {getattr(self, key)!r}")
        if self.norm_quality not in ("low", "high"):
            raise ValueError(f"norm_quality: expected 'low' or 'high', got {self.norm_quality!r}")
        if self.counting_degree is not None:
            check_positive_int(self.counting_degree, "counting_degree")


def cells(config: SamplesConfig) -> list[dict[str, Any]]:
    """One cell per (function, dim, activation, n), cheapest first (a run stopped early
    keeps the small n; rosenbrock has no 1-D form and is skipped there)."""
    preset = config.to_dict()
    ns = preset["n"]
    out = []
    for name in preset["functions"]:
        for dim in preset["dims"]:
            if name == "rosenbrock" and dim == 1:
                continue
            for act in preset["activations"]:
                for n in ns:
                    out.append(
                        {
                            "study": "samples",
                            "function": name,
                            "dim": int(dim),
                            "activation": act,
                            "hidden": list(preset["hidden"]),
                            "seeds": [int(s) for s in preset["seeds"]],
                            "pool_size": int(max(ns)),
                            "n": int(n),
                            "methods": list(preset["methods"]),
                            **{
                                k: preset[k]
                                for k in ("adam_steps", "lr", "lbfgs_iters", "eval_every")
                            },
                            "norm_quality": preset["norm_quality"],
                        }
                    )
    out.sort(key=lambda c: c["n"] * c["dim"])
    return out


STUDY = Study(
    name="samples",
    description="error vs number of training points for orders 0 and 1; power-law fits",
    config=SamplesConfig,
    presets={
        "quick": {
            "functions": ["styblinski_tang", "rosenbrock"],
            "dims": [1, 2],
            "n": [4, 16, 64],
            "seeds": [0, 1],
            "adam_steps": 40,
            "lbfgs_iters": 40,
            "eval_every": 10,
            "fit_min_n": 4,
            "norm_quality": "low",
        },
        "full": {},
        # The scale issue #15 asks for (not run here: about 30x the full preset's compute).
        "large": {
            "dims": [1, 2, 4, 8],
            "n": [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
            "seeds": [0, 1, 2, 3, 4],
            "adam_steps": 500,
            "lbfgs_iters": 2000,
        },
    },
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
