"""Universal approximation in Sobolev norms: error vs width (paper RQ4, Theorem 1).

For registry targets in d = 1, 2 and a few higher dimensions, MLPs with one (or two)
hidden layers of growing width are trained by regular (order 0) and Sobolev (order
1) training on a dense uniform sample, with relu, leaky_relu, softplus and tanh. The
distance to the target on the whole domain is measured with :mod:`sobolev_lab.theory.norms` in
L^2, W^{1,2} and W^{1,inf} (the latter a grid lower bound), and a power law
``error ~ C width^-a`` is fitted per (target, activation, depth, method). The 1-D
piecewise-linear ReLU interpolant (:mod:`sobolev_lab.theory.constructions.relu_universal`,
``width + 1`` knots) is evaluated at the same widths as the reference curve.

Methods: ``regular`` (order 0), ``sobolev`` (order 1, unit weights as in the paper)
and ``sobolev_balanced`` (order 1 with ``w1 = 1 / mean |dt/du|^2`` of the scaled
target, so both terms start at comparable size).

One sweep cell is one (target, activation, hidden widths): all seeds and both
methods are members of one :class:`sobolev.ensemble.MLPEnsemble` (regular and
Sobolev members of a seed share the initial weights and the data). Reference cells
(``kind="construction"``) hold the interpolant's errors.

Summary schema (``results/universal/<preset>/result.json``, key ``payload``, beside
the runner's ``config``, ``timing`` and ``cells``)
------------------------------------------------------------------------------------
``curves``: list of

    {"function", "dim", "activation", "hidden_layers", "method",
     "widths": [K], "seeds": [S],
     "errors": {metric: [[S x K]]}        # relative errors |f - h| / |f|
     "errors_abs": {metric: [[S x K]]},
     "fits": {metric: PowerLawFit.to_dict() or null}}

with metric in ``l2, w12, w1inf``; ``reference``: list of {"function", "widths",
"errors", "errors_abs", "fits"} for the ReLU interpolant (no seeds: one row);
``summary``: rows {function, dim, activation, hidden_layers, method, metric,
rate, rate_ci, first_error, last_error}; ``rows``: one flat row per trained member
or reference width (``result.csv``); ``verdicts``: paired comparisons per (function,
dim, activation, depth, width, metric) of each Sobolev method against ``regular``
(:func:`sobolev_lab.stats.paired_verdicts`, Holm across the table); ``convergence``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from sobolev._validation import check_positive_int
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev_lab.approx.common import (
    METRICS,
    ScaledNetwork,
    check_training_fields,
    errors_of,
    scaled_data,
    scaling_of,
)
from sobolev_lab.approx.common import target_function as _target
from sobolev_lab.approx.report import (
    convergence_unassessed,
    curve_verdicts,
    fit_or_none,
    rates_markdown,
    verdicts_markdown,
)
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.study import Study
from sobolev_lab.tables import csv_text
from sobolev_lab.theory.constructions.relu_universal import relu_interpolant_1d

__all__ = ["METHOD_WEIGHTS", "STUDY", "UniversalConfig", "cells", "run_cell", "summarise"]

#: Method -> (w0, w1) of the loss; None is replaced by ``1 / mean |dt/du|^2`` of the
#: target ("balanced": both terms start at comparable size, as in Differential ML).
METHOD_WEIGHTS = {
    "regular": (1.0, 0.0),
    "sobolev": (1.0, 1.0),
    "sobolev_balanced": (1.0, None),
}
ACTIVATIONS = ("relu", "leaky_relu", "softplus", "tanh")

_FULL_TARGETS = [
    ["styblinski_tang", 1, 256, [4, 8, 16, 32, 64, 128, 256], [4, 8, 16, 32]],
    ["styblinski_tang", 2, 512, [8, 16, 32, 64, 128], []],
    ["himmelblau", 2, 512, [8, 16, 32, 64, 128], []],
    ["styblinski_tang", 4, 1024, [8, 16, 32, 64], []],
]


@dataclass(frozen=True)
class UniversalConfig(StudyConfig):
    """Error vs width of regular and Sobolev-trained MLPs (the defaults are ``full``)."""

    targets: tuple[Any, ...] = param(
        _FULL_TARGETS,
        "JSON list of [function, dim, n_train, [one-layer widths], [two-layer widths]]",
    )
    activations: tuple[str, ...] = param(list(ACTIVATIONS), f"activations, from {ACTIVATIONS}")
    methods: tuple[str, ...] = param(
        ["regular", "sobolev", "sobolev_balanced"], f"methods, from {tuple(METHOD_WEIGHTS)}"
    )
    seeds: tuple[int, ...] = param([0, 1], "seeds (data and initial weights per seed)")
    steps: int = param(1000, "full-batch Adam steps per network")
    lr: float = param(1e-2, "Adam learning rate")
    schedule: Literal["constant", "cosine"] = param(
        "cosine", "learning-rate schedule over the steps"
    )
    norm_quality: Literal["low", "high"] = param("high", "quadrature of the error norms")

    def validate(self) -> None:
        for a in self.activations:
            if a not in ACTIVATIONS:
                raise ValueError(f"activations: expected a subset of {ACTIVATIONS}, got {a!r}")
        if not self.methods:
            raise ValueError("methods: need at least one method")
        for m in self.methods:
            if m not in METHOD_WEIGHTS:
                raise ValueError(f"methods: expected a subset of {list(METHOD_WEIGHTS)}, got {m!r}")
        check_training_fields(self)
        if not self.targets:
            raise ValueError("targets: need at least one target")
        for t in self.targets:
            if len(t) != 5:
                raise ValueError(
                    f"targets: each entry is [function, dim, n_train, widths1, widths2], got {t!r}"
                )
            name, dim, n_train, widths1, widths2 = t
            _target(name, dim)
            check_positive_int(n_train, "targets n_train")
            for w in [*widths1, *widths2]:
                if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                    raise ValueError(f"targets: widths must be positive integers, got {w!r}")


def cells(config: UniversalConfig) -> list[dict[str, Any]]:
    """Sweep cells: training cells, then the 1-D reference (construction) cells."""
    preset = config.to_dict()
    out, ref = [], []
    for name, dim, n_train, widths1, widths2 in preset["targets"]:
        common = {"study": "universal", "function": name, "dim": int(dim)}
        for act in preset["activations"]:
            for depth, widths in ((1, widths1), (2, widths2)):
                for w in widths:
                    out.append(
                        {
                            **common,
                            "kind": "train",
                            "activation": act,
                            "hidden": [int(w)] * depth,
                            "n_train": int(n_train),
                            "methods": list(preset["methods"]),
                            "seeds": [int(s) for s in preset["seeds"]],
                            "steps": int(preset["steps"]),
                            "lr": float(preset["lr"]),
                            "schedule": preset["schedule"],
                            "norm_quality": preset["norm_quality"],
                        }
                    )
        if dim == 1:
            for w in sorted(set(widths1)):
                ref.append(
                    {
                        **common,
                        "kind": "construction",
                        "width": int(w),
                        "norm_quality": preset["norm_quality"],
                    }
                )
    return out + ref


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Compute one cell (see module docstring); raises on non-finite losses or errors."""
    torch.set_num_threads(1)
    name, dim, quality = config["function"], config["dim"], config["norm_quality"]
    metrics = tuple(METRICS)
    if config["kind"] == "construction":
        f = _target(name, dim)
        lo, hi = float(f.domain.lower[0]), float(f.domain.upper[0])
        net = relu_interpolant_1d(lambda t: f.value(t[:, None]), lo, hi, config["width"] + 1)
        return {"errors": errors_of(net, name, dim, metrics, quality)}
    f = _target(name, dim)
    members = [(s, m) for s in config["seeds"] for m in config["methods"]]
    xs, ys, dys = [], [], []
    for s, _ in members:
        x = f.sample(config["n_train"], seed=10_000 + s)
        u, t, dt, _ = scaled_data(name, dim, x, order=1)
        xs.append(u)
        ys.append(t)
        dys.append(dt)
    ens = MLPEnsemble.from_seeds(
        dim, 1, config["hidden"], config["activation"], [s for s, _ in members]
    )
    balanced = 1.0 / scaling_of(name, dim).grad_sq_mean
    weights = np.array(
        [[w0, balanced if w1 is None else w1] for w0, w1 in (METHOD_WEIGHTS[m] for _, m in members)]
    )
    t0 = time.perf_counter()
    hist = fit_ensemble(
        ens,
        np.stack(xs).astype(np.float32),
        np.stack(ys).astype(np.float32),
        np.stack(dys).astype(np.float32),
        weights=weights,
        steps=config["steps"],
        lr=config["lr"],
        schedule=config["schedule"],
        seed=0,
        progress=False,
    )
    train_seconds = time.perf_counter() - t0
    scaling = scaling_of(name, dim)
    rows = []
    for (s, m), net in zip(members, ens.to_models(), strict=True):
        errs = errors_of(ScaledNetwork(copy.deepcopy(net), scaling), name, dim, metrics, quality)
        rows.append(
            {
                "seed": s,
                "method": m,
                "train_order0": float(hist["order0"][-1, len(rows)]),
                "train_order1": float(hist["order1"][-1, len(rows)]),
                **errs,
            }
        )
    return {"members": rows, "train_seconds": train_seconds}


def summarise(
    config: UniversalConfig, cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """Curves, reference curves, fits, the flat tables and the paired verdicts."""
    groups: dict[tuple, dict[int, dict]] = {}
    refs: dict[str, dict[int, dict]] = {}
    for cfg, pay in zip(cfgs, payloads, strict=True):
        if pay is None:
            continue
        if cfg["kind"] == "construction":
            refs.setdefault(cfg["function"], {})[cfg["width"]] = pay["errors"]
            continue
        for row in pay["members"]:
            depth = len(cfg["hidden"])
            key = (cfg["function"], cfg["dim"], cfg["activation"], depth, row["method"])
            groups.setdefault(key, {}).setdefault(cfg["hidden"][0], {})[row["seed"]] = row
    curves, summary = [], []
    for (name, dim, act, depth, method), by_width in sorted(groups.items()):
        widths = sorted(by_width)
        seeds = sorted(set.intersection(*(set(by_width[w]) for w in widths)))
        curve = {
            "function": name,
            "dim": dim,
            "activation": act,
            "hidden_layers": depth,
            "method": method,
            "widths": widths,
            "seeds": seeds,
            "errors": {},
            "errors_abs": {},
            "fits": {},
        }
        for m in METRICS:
            rel = [[by_width[w][s][m + "_rel"] for w in widths] for s in seeds]
            curve["errors"][m] = rel
            curve["errors_abs"][m] = [[by_width[w][s][m] for w in widths] for s in seeds]
            curve["fits"][m] = fit_or_none(widths, rel)
            mean = np.exp(np.mean(np.log(rel), axis=0)) if rel else []
            fit = curve["fits"][m]
            summary.append(
                {
                    "function": name,
                    "dim": dim,
                    "activation": act,
                    "hidden_layers": depth,
                    "method": method,
                    "metric": m,
                    "rate": None if fit is None else fit["exponent"],
                    "rate_ci": None if fit is None else fit["exponent_ci"],
                    "first_error": float(mean[0]) if len(mean) else None,
                    "last_error": float(mean[-1]) if len(mean) else None,
                }
            )
        curves.append(curve)
    reference = []
    for name, by_width in sorted(refs.items()):
        widths = sorted(by_width)
        entry = {"function": name, "widths": widths, "errors": {}, "errors_abs": {}, "fits": {}}
        for m in METRICS:
            entry["errors"][m] = [by_width[w][m + "_rel"] for w in widths]
            entry["errors_abs"][m] = [by_width[w][m] for w in widths]
            entry["fits"][m] = fit_or_none(widths, entry["errors"][m])
        reference.append(entry)
    return {
        "curves": curves,
        "reference": reference,
        "summary": summary,
        "rows": csv_rows(cfgs, payloads),
        "verdicts": curve_verdicts(
            curves,
            ["function", "dim", "activation", "hidden_layers"],
            "widths",
            "width",
            "regular",
            METRICS,
            "{method} training reaches a lower {metric} error than regular",
        ),
        "convergence": convergence_unassessed(
            sum(len(p["members"]) for p in payloads if p is not None and "members" in p)
        ),
    }


def csv_rows(cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]) -> list[dict]:
    """One flat row per trained member or reference width (for the CSV file)."""
    rows = []
    for cfg, pay in zip(cfgs, payloads, strict=True):
        base = {"function": cfg["function"], "dim": cfg["dim"]}
        if pay is None:
            rows.append({**base, "kind": cfg["kind"], "status": "failed"})
        elif cfg["kind"] == "construction":
            rows.append(
                {
                    **base,
                    "kind": "construction",
                    "activation": "relu",
                    "hidden_layers": 1,
                    "width": cfg["width"],
                    "method": "interpolant",
                    "status": "done",
                    **pay["errors"],
                }
            )
        else:
            for r in pay["members"]:
                rows.append(
                    {
                        **base,
                        "kind": "train",
                        "activation": cfg["activation"],
                        "hidden_layers": len(cfg["hidden"]),
                        "width": cfg["hidden"][0],
                        "status": "done",
                        # Sorted as the shipped CSV (members read back from cell files).
                        **dict(sorted(r.items())),
                    }
                )
    return rows


def render(config: UniversalConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (one row per trained member or reference width) and ``result.md``."""
    md = "# Universal approximation in Sobolev norms: error vs width\n\n"
    md += "Fitted rates a of the relative error ~ width^-a (95% CI), and the geometric-mean "
    md += "relative error at the smallest and largest width:\n\n"
    md += rates_markdown(
        summary["summary"], ["function", "dim", "activation", "hidden_layers", "method", "metric"]
    )
    if summary["reference"]:
        md += "\nExplicit ReLU interpolant (Theorem 1), fitted rates:\n\n"
        md += rates_markdown(
            [
                {
                    "function": r["function"],
                    "metric": m,
                    "rate": None if r["fits"][m] is None else r["fits"][m]["exponent"],
                    "rate_ci": None if r["fits"][m] is None else r["fits"][m]["exponent_ci"],
                    "first_error": r["errors"][m][0],
                    "last_error": r["errors"][m][-1],
                }
                for r in summary["reference"]
                for m in METRICS
            ],
            ["function", "metric"],
        )
    md += verdicts_markdown(summary, "regular", "at equal width")
    return {"result.csv": csv_text(summary["rows"]), "result.md": md}


STUDY = Study(
    name="universal",
    description="error vs width in L2, W^{1,2}, W^{1,inf} for regular vs Sobolev training",
    config=UniversalConfig,
    presets={
        "quick": {
            "activations": ["relu", "tanh"],
            "targets": [["styblinski_tang", 1, 64, [4, 16], []]],
            "seeds": [0],
            "steps": 60,
            "norm_quality": "low",
        },
        "full": {},
        "large": {
            "targets": [
                [
                    "styblinski_tang",
                    1,
                    512,
                    [4, 8, 16, 32, 64, 128, 256, 512, 1024],
                    [4, 8, 16, 32],
                ],
                ["levy", 1, 512, [4, 8, 16, 32, 64, 128, 256, 512, 1024], [4, 8, 16, 32]],
                ["rastrigin", 1, 512, [4, 8, 16, 32, 64, 128, 256, 512, 1024], []],
                ["styblinski_tang", 2, 1024, [4, 8, 16, 32, 64, 128, 256, 512], [8, 16, 32, 64]],
                ["himmelblau", 2, 1024, [4, 8, 16, 32, 64, 128, 256, 512], [8, 16, 32, 64]],
                ["styblinski_tang", 4, 2048, [8, 16, 32, 64, 128, 256], []],
                ["rosenbrock", 8, 2048, [8, 16, 32, 64, 128, 256], []],
            ],
            "seeds": [0, 1, 2],
            "steps": 3000,
        },
    },
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
