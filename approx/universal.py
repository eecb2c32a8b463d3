"""Universal approximation in Sobolev norms: error vs width (paper RQ4, Theorem 1).

For registry targets in d = 1 and 2, one-hidden-layer MLPs of growing width are
trained (float64; the spread initialisation of :mod:`.init`, full-batch Adam, then
L-BFGS: :mod:`.training`) on a
dense uniform sample of ``points_per_param`` x parameters points (at most
``max_points`` x d: compute), by regular (order 0) and Sobolev (order 1) training, with relu,
leaky_relu, softplus and tanh. The distance to the target on the whole domain is
measured with :mod:`sobolev_lab.theory.norms` in L^2, W^{1,2} and W^{1,inf} (a grid lower
bound), and a power law ``error ~ C width^-a`` is fitted per (target, activation,
method) with an interval over seeds. The 1-D piecewise-linear ReLU interpolant
(:mod:`sobolev_lab.theory.constructions.relu_universal`, ``width + 1`` knots) is
evaluated at the same widths as the reference curve, and ReLU cells in 1-D also train
from it (``warm_start``): does the optimiser keep the construction?

Methods: ``regular`` (order 0), ``sobolev`` (order 1, unit weights as in the paper)
and ``sobolev_balanced`` (order 1 with ``w1 = 1 / mean |dt/du|^2`` of the scaled
target, so both terms start at comparable size).

Every member records its final training loss (objective and both terms), the best
held-out loss (fresh points of the target), the final gradient norm and whether it
converged under :data:`sobolev_lab.protocol.CRITERION`.

Modules: this one holds the configuration, the cells and ``STUDY``;
:mod:`.universal_train` the cells' training, :mod:`.universal_summary` the summary
(``curves``, ``reference``, ``summary`` rates, ``rows``, ``verdicts``, ``convergence``)
and the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sobolev._validation import check_positive_int
from sobolev_lab.approx.common import target_function as _target
from sobolev_lab.approx.universal_summary import render, summarise
from sobolev_lab.approx.universal_train import METHOD_WEIGHTS, n_points, run_cell
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.study import Study

__all__ = ["METHOD_WEIGHTS", "STUDY", "UniversalConfig", "cells", "run_cell", "summarise"]

ACTIVATIONS = ("relu", "leaky_relu", "softplus", "tanh")
TRAINED = ("regular", "sobolev", "sobolev_balanced")

_FULL_TARGETS = [
    ["styblinski_tang", 1, [4, 16, 64, 256]],
    ["styblinski_tang", 2, [8, 32, 128]],
]
_ACTIVATIONS_2D = list(ACTIVATIONS)
INITS = ("spread", "default")


@dataclass(frozen=True)
class UniversalConfig(StudyConfig):
    """Error vs width of converged regular and Sobolev-trained MLPs (defaults: ``full``)."""

    targets: tuple[Any, ...] = param(
        _FULL_TARGETS, "JSON list of [function, dim, [one-hidden-layer widths]]"
    )
    activations: tuple[str, ...] = param(list(ACTIVATIONS), f"activations, from {ACTIVATIONS}")
    methods: tuple[str, ...] = param(list(TRAINED), f"methods, from {TRAINED}")
    seeds: tuple[int, ...] = param([0, 1, 2], "seeds (data and initial weights per seed)")
    activations_2d: tuple[str, ...] = param(_ACTIVATIONS_2D, "activations trained for d = 2")
    init: Literal["spread", "default"] = param(
        "spread",
        "initial network: 'spread' moves every unit's transition through a uniform point "
        "of the domain and fits the output layer to each member's own loss by least "
        "squares (approx.init); 'default': PyTorch's initialisation",
    )
    adam_steps: int = param(1000, "full-batch Adam steps (cosine schedule) before L-BFGS")
    lr: float = param(1e-3, "initial Adam learning rate")
    lbfgs_iters: int = param(1000, "L-BFGS iterations after Adam (backtracking line search)")
    lbfgs_iters_narrow: int = param(
        6000,
        "L-BFGS iterations of networks with at most narrow_params parameters (cheap cells "
        "whose small non-convex fits were measured to need more than lbfgs_iters)",
    )
    narrow_params: int = param(64, "parameter count up to which lbfgs_iters_narrow applies")
    eval_every: int = param(50, "held-out evaluation period, in iterations")
    points_per_param: int = param(10, "training points per network parameter")
    max_points: int = param(1024, "cap on the training points per input dimension (compute)")
    warm_start: bool = param(True, "1-D ReLU: also train from the explicit construction")
    norm_quality: Literal["low", "high"] = param("high", "quadrature of the error norms")

    def validate(self) -> None:
        for a in (*self.activations, *self.activations_2d):
            if a not in ACTIVATIONS:
                raise ValueError(f"activations: expected a subset of {ACTIVATIONS}, got {a!r}")
        if not self.methods or set(self.methods) - set(TRAINED):
            raise ValueError(f"methods: expected a non-empty subset of {TRAINED}")
        if not self.seeds:
            raise ValueError("seeds: need at least one seed")
        keys = ("adam_steps", "lbfgs_iters", "lbfgs_iters_narrow", "narrow_params")
        for key in (*keys, "eval_every", "points_per_param", "max_points"):
            if key == "adam_steps" and self.adam_steps == 0:
                continue
            check_positive_int(getattr(self, key), key)
        if not (isinstance(self.lr, float) and 0 < self.lr < float("inf")):
            raise ValueError(f"lr must be a positive finite float, got {self.lr!r}")
        if self.init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, got {self.init!r}")
        if self.norm_quality not in ("low", "high"):
            raise ValueError(f"norm_quality: expected 'low' or 'high', got {self.norm_quality!r}")
        if not self.targets:
            raise ValueError("targets: need at least one target")
        for t in self.targets:
            if len(t) != 3:
                raise ValueError(f"targets: each entry is [function, dim, widths], got {t!r}")
            name, dim, widths = t
            _target(name, dim)
            if dim not in (1, 2):
                raise ValueError(f"targets: dim must be 1 or 2, got {dim!r}")
            for w in widths:
                if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                    raise ValueError(f"targets: widths must be positive integers, got {w!r}")


def _lbfgs_iters(preset: dict[str, Any], dim: int, width: int) -> int:
    narrow = (dim + 2) * width + 1 <= preset["narrow_params"]
    return int(preset["lbfgs_iters_narrow" if narrow else "lbfgs_iters"])


def cells(config: UniversalConfig) -> list[dict[str, Any]]:
    """Sweep cells, cheapest first (a run stopped early keeps the small widths), then the
    references."""
    preset = config.to_dict()
    out, ref = [], []
    for name, dim, widths in preset["targets"]:
        common = {"study": "universal", "function": name, "dim": int(dim)}
        acts = preset["activations"] if dim == 1 else preset["activations_2d"]
        for act in acts:
            for w in widths:
                out.append(
                    {
                        **common,
                        "kind": "train",
                        "activation": act,
                        "width": int(w),
                        "n_train": n_points(
                            dim, w, preset["points_per_param"], preset["max_points"]
                        ),
                        "methods": list(preset["methods"]),
                        "warm_start": bool(preset["warm_start"] and act == "relu" and dim == 1),
                        "seeds": [int(s) for s in preset["seeds"]],
                        **{k: preset[k] for k in ("init", "adam_steps", "lr", "eval_every")},
                        "lbfgs_iters": _lbfgs_iters(preset, dim, w),
                        "norm_quality": preset["norm_quality"],
                    }
                )
        if dim == 1:
            for w in sorted(set(widths)):
                ref.append(
                    {
                        **common,
                        "kind": "construction",
                        "width": int(w),
                        "norm_quality": preset["norm_quality"],
                    }
                )
    out.sort(key=lambda c: c["width"] * c["dim"])
    return out + ref


STUDY = Study(
    name="universal",
    description="error vs width in L2, W^{1,2}, W^{1,inf} for converged regular vs Sobolev nets",
    config=UniversalConfig,
    presets={
        "quick": {
            "activations": ["relu", "tanh"],
            "targets": [["styblinski_tang", 1, [4, 16]]],
            "seeds": [0, 1],
            "adam_steps": 40,
            "lbfgs_iters": 40,
            "lbfgs_iters_narrow": 40,
            "eval_every": 10,
            "max_points": 128,
            "norm_quality": "low",
        },
        "full": {},
        # The scale issue #15 asks for (not run here: about 20x the full preset's compute).
        "large": {
            "targets": [
                ["styblinski_tang", 1, [4, 8, 16, 32, 64, 128, 256]],
                ["styblinski_tang", 2, [8, 16, 32, 64, 128]],
            ],
            "activations_2d": list(ACTIVATIONS),
            "seeds": [0, 1, 2, 3, 4],
            "adam_steps": 500,
            "lbfgs_iters": 3000,
            "max_points": 4096,
        },
    },
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
