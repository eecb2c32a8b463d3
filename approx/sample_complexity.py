"""Sample complexity of regular vs Sobolev training (paper RQ1).

For a registry target in d = 1, 2, 4, 8, a fixed MLP is trained on the first ``n``
points of one uniform sample per seed (nested training sets) for ``n`` on a log
grid, by four methods (:data:`METHODS`): ``order0`` (values), ``order1`` (values +
gradients, balanced weights), ``order1_unit`` (same with unit weights, the paper's
default) and, for smooth activations, ``order2`` (+ Hessians, balanced). The error
on the whole domain is measured with :mod:`sobolev_lab.theory.norms` in L^2 and W^{1,2}
(relative to the target's norm). Power laws ``error ~ C n^-a`` are fitted per
(target, dim, activation, method) over ``n >= fit_min_n``; from them (and from the
measured curves directly) we report the samples needed to reach target errors and
the ratio ``n_order0 / n_method``, next to the counting heuristic: a sample of order
k carries ``C(d + k, k)`` constraints (``1 + d`` for k = 1).

Order-0/1 methods of all seeds are members of one
:class:`sobolev.ensemble.MLPEnsemble` per cell (same initial weights and data per
seed). ``fit_ensemble`` has no order-2 term, so order-2 cells train one
:class:`sobolev.MLP` per seed with :func:`sobolev.fit` and
``SobolevLoss(order=2, weights=(1, w1, w2))`` (same initial weights and data).

Summary schema (``results/samples/<preset>/result.json``, key ``payload``, beside the
runner's ``config``, ``timing`` and ``cells``)
------------------------------------------------------------------------------------
``curves``: list of

    {"function", "dim", "activation", "method", "order", "n": [K], "seeds": [S],
     "errors": {"l2": [[S x K]], "w12": [[S x K]]},   # relative errors
     "errors_abs": {...}, "fits": {metric: PowerLawFit.to_dict() or null}}

``samples_to_target``: list of rows {"function", "dim", "activation", "metric",
"target", "method", "order", "n_fit" ({value, ci, extrapolated, valid}), "n_measured" (log-log
interpolated first crossing of the geometric-mean curve, or null),
"ratio_fit" (null unless both crossings lie inside the fitted ranges) and
"ratio_measured" (n of order0 / n of this method, null when undefined),
"heuristic_ratio" (C(d + k, k)), "polynomial_ratio" (order 1 only: points needed
to identify a polynomial of degree ``counting_degree`` from values vs values and
gradients, :func:`sobolev_lab.theory.sample_complexity.predicted_points`; null otherwise)};
``rows``: one flat row per trained model (``result.csv``); ``verdicts``: paired
comparisons per (function, dim, activation, n, metric) of each method against
``order0`` (:func:`sobolev_lab.stats.paired_verdicts`, Holm across the table);
``convergence``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

import sobolev as sb
from sobolev._validation import check_positive_int
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev.models import ACTIVATIONS
from sobolev_lab.approx.common import (
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
    geo_mean,
    rates_markdown,
    verdicts_markdown,
)
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.curves import crossing_point, fit_power_law, samples_to_reach
from sobolev_lab.study import Study
from sobolev_lab.tables import csv_text, fmt, markdown_table
from sobolev_lab.theory.sample_complexity import predicted_points

__all__ = [
    "METHODS",
    "STUDY",
    "SamplesConfig",
    "cells",
    "constraints_per_sample",
    "run_cell",
    "summarise",
]

SMOOTH = ("softplus", "tanh", "silu", "gelu", "elu", "sigmoid")
_METRICS = ("l2", "w12")
#: Method -> (derivative order, weighting). "balanced" weights order k by
#: ``1 / mean |D^k t|^2`` of the scaled target (fixed Sobol points, not the training
#: set), so every term starts at comparable size; "unit" is the paper's default.
METHODS: dict[str, tuple[int, str]] = {
    "order0": (0, "unit"),
    "order1": (1, "balanced"),
    "order1_unit": (1, "unit"),
    "order2": (2, "balanced"),
}


@dataclass(frozen=True)
class SamplesConfig(StudyConfig):
    """Error vs number of training points per derivative order (the defaults are ``full``)."""

    function: str = param("styblinski_tang", "registry target of sobolev_lab.theory.functions")
    dims: tuple[int, ...] = param([1, 2, 4, 8], "input dimensions")
    activations: tuple[str, ...] = param(["tanh"], "activations of sobolev.models")
    methods: tuple[str, ...] = param(
        ["order0", "order1", "order1_unit", "order2"], f"methods, from {tuple(METHODS)}"
    )
    n: tuple[int, ...] = param(
        [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
        "training-set sizes, strictly increasing (nested sets)",
    )
    n_order2_max: int = param(512, "largest n trained with order 2 (one model per seed: costly)")
    hidden: tuple[int, ...] = param([32, 32], "hidden widths of the MLP")
    seeds: tuple[int, ...] = param([0, 1, 2], "seeds (data pool and initial weights per seed)")
    steps: int = param(1000, "full-batch Adam steps per network")
    lr: float = param(1e-2, "Adam learning rate")
    schedule: Literal["constant", "cosine"] = param(
        "cosine", "learning-rate schedule over the steps"
    )
    fit_min_n: int = param(16, "smallest n used by the power-law fits")
    targets_l2: tuple[float, ...] = param(
        [0.3, 0.1, 0.03], "relative L^2 error levels of the samples-to-target table"
    )
    targets_w12: tuple[float, ...] = param(
        [0.5, 0.3, 0.1], "relative W^{1,2} error levels of the samples-to-target table"
    )
    norm_quality: Literal["low", "high"] = param("high", "quadrature of the error norms")
    # Styblinski-Tang is a quartic: the exact polynomial counting of
    # theory.sample_complexity for degree 4 is reported next to C(d + k, k).
    counting_degree: int | None = param(4, "polynomial degree of the exact counting (or none)")

    def validate(self) -> None:
        check_training_fields(self)
        ns = self.n
        if not ns or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in ns):
            raise ValueError(f"n must be a non-empty list of positive integers, got {ns!r}")
        if sorted(set(ns)) != list(ns):
            raise ValueError(f"n must be strictly increasing, got {ns!r}")
        if not self.methods or set(self.methods) - set(METHODS):
            raise ValueError(f"methods must be a subset of {list(METHODS)}, got {self.methods!r}")
        if not self.dims:
            raise ValueError("dims: need at least one dimension")
        for dim in self.dims:
            _target(self.function, dim)
        for act in self.activations:
            if act not in ACTIVATIONS:
                raise ValueError(f"activations: unknown activation {act!r}")
        for w in self.hidden:
            check_positive_int(w, "hidden")
        for key in ("n_order2_max", "fit_min_n"):
            check_positive_int(getattr(self, key), key)
        for key in ("targets_l2", "targets_w12"):
            if any(isinstance(t, bool) or not 0 < t < math.inf for t in getattr(self, key)):
                raise ValueError(f"{key} must be positive floats, got {getattr(self, key)!r}")
        if self.counting_degree is not None:
            check_positive_int(self.counting_degree, "counting_degree")


def constraints_per_sample(dim: int, order: int) -> int:
    """Scalar constraints a sample of derivative order ``order`` carries: C(d + k, k)."""
    return math.comb(dim + order, order)


def cells(config: SamplesConfig) -> list[dict[str, Any]]:
    """Sweep cells: per (dim, activation, n) one order-0/1 ensemble cell and, for smooth
    activations and ``n <= n_order2_max``, one order-2 cell."""
    preset = config.to_dict()
    ns = preset["n"]
    out = []
    for dim in preset["dims"]:
        for act in preset["activations"]:
            base = {
                "study": "samples",
                "function": preset["function"],
                "dim": int(dim),
                "activation": act,
                "hidden": list(preset["hidden"]),
                "seeds": [int(s) for s in preset["seeds"]],
                "pool_size": int(max(ns)),
                "steps": int(preset["steps"]),
                "lr": float(preset["lr"]),
                "schedule": preset["schedule"],
                "norm_quality": preset["norm_quality"],
            }
            low = [m for m in preset["methods"] if METHODS[m][0] < 2]
            for n in ns:
                if low:
                    out.append({**base, "n": int(n), "methods": low})
                if "order2" in preset["methods"] and act in SMOOTH and n <= preset["n_order2_max"]:
                    out.append({**base, "n": int(n), "methods": ["order2"]})
    return out


def _data(config: dict[str, Any], seed: int, order: int):
    # One pool per seed; the first n points form the (nested) training set.
    f = _target(config["function"], config["dim"])
    x = f.sample(config["pool_size"], seed=20_000 + seed)[: config["n"]]
    return scaled_data(config["function"], config["dim"], x, order)


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one cell; raises on non-finite losses or errors."""
    torch.set_num_threads(1)
    name, dim, quality = config["function"], config["dim"], config["norm_quality"]
    scaling = scaling_of(name, dim)
    rows, t0 = [], time.perf_counter()
    w1, w2 = 1.0 / scaling.grad_sq_mean, 1.0 / scaling.hess_sq_mean
    if config["methods"] == ["order2"]:
        nets = []
        for s in config["seeds"]:
            u, t, dt, d2t = _data(config, s, 2)
            net = sb.MLP(dim, 1, config["hidden"], config["activation"], seed=s)
            target = sb.Target.from_arrays(
                t.astype(np.float32), dt.astype(np.float32), d2t.astype(np.float32)
            )
            hist = sb.fit(
                net,
                torch.as_tensor(u, dtype=torch.float32),
                target,
                loss=sb.SobolevLoss(order=2, weights=(1.0, w1, w2)),
                steps=config["steps"],
                lr=config["lr"],
                schedule=config["schedule"],
                seed=0,
                progress=False,
            )
            final = float(hist["total"][-1]) if hist.get("total") else float("nan")
            if not math.isfinite(final):
                raise FloatingPointError(f"order-2 loss became non-finite (seed {s})")
            nets.append((s, "order2", net, final))
    else:
        members = [(s, m) for s in config["seeds"] for m in config["methods"]]
        data = [_data(config, s, 1) for s, _ in members]
        ens = MLPEnsemble.from_seeds(
            dim, 1, config["hidden"], config["activation"], [s for s, _ in members]
        )
        hist = fit_ensemble(
            ens,
            np.stack([d[0] for d in data]).astype(np.float32),
            np.stack([d[1] for d in data]).astype(np.float32),
            np.stack([d[2] for d in data]).astype(np.float32),
            weights=np.array(
                [(1.0, {"order0": 0.0, "order1": w1, "order1_unit": 1.0}[m]) for _, m in members]
            ),
            steps=config["steps"],
            lr=config["lr"],
            schedule=config["schedule"],
            seed=0,
            progress=False,
        )
        nets = [
            (s, o, net, float(hist["total"][-1, i]))
            for i, ((s, o), net) in enumerate(zip(members, ens.to_models(), strict=True))
        ]
    train_seconds = time.perf_counter() - t0
    for s, m, net, final in nets:
        errs = errors_of(ScaledNetwork(net, scaling), name, dim, _METRICS, quality)
        rows.append({"seed": s, "method": m, "order": METHODS[m][0], "train_loss": final, **errs})
    return {"members": rows, "train_seconds": train_seconds}


def _polynomial_ratio(dim: int, order: int, degree: int | None) -> float | None:
    """Points to identify a degree-q polynomial from values / from values + gradients."""
    if degree is None or order != 1:
        return None
    return predicted_points(dim, degree, False) / predicted_points(dim, degree, True)


def summarise(
    config: SamplesConfig, cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """Curves with power-law fits, samples-to-target with method ratios, and verdicts."""
    preset = config.to_dict()
    groups: dict[tuple, dict[int, dict]] = {}
    for cfg, pay in zip(cfgs, payloads, strict=True):
        if pay is None:
            continue
        for row in pay["members"]:
            key = (cfg["function"], cfg["dim"], cfg["activation"], row["method"])
            groups.setdefault(key, {}).setdefault(cfg["n"], {})[row["seed"]] = row
    curves = []
    by_key = {}
    for (name, dim, act, method), by_n in sorted(groups.items()):
        order = METHODS[method][0]
        ns = sorted(by_n)
        seeds = sorted(set.intersection(*(set(by_n[n]) for n in ns)))
        curve = {
            "function": name,
            "dim": dim,
            "activation": act,
            "method": method,
            "order": order,
            "n": ns,
            "seeds": seeds,
            "errors": {},
            "errors_abs": {},
            "fits": {},
        }
        for m in _METRICS:
            rel = [[by_n[n][s][m + "_rel"] for n in ns] for s in seeds]
            curve["errors"][m] = rel
            curve["errors_abs"][m] = [[by_n[n][s][m] for n in ns] for s in seeds]
            keep = [i for i, n in enumerate(ns) if n >= preset["fit_min_n"]]
            fit = None
            if seeds and len(keep) >= 2 and len(keep) * len(seeds) >= 3:
                fit = fit_power_law([ns[i] for i in keep], [[r[i] for i in keep] for r in rel])
            curve["fits"][m] = None if fit is None else fit.to_dict()
            by_key[(name, dim, act, method, m)] = (ns, rel, fit)
        curves.append(curve)
    table = []
    degree = preset.get("counting_degree")
    for (name, dim, act, method, m), (ns, rel, fit) in sorted(by_key.items()):
        order = METHODS[method][0]
        for eps in preset[f"targets_{m}"]:
            n_fit = samples_to_reach(fit, eps) if fit is not None else None
            n_meas = crossing_point(ns, geo_mean(rel), eps) if rel else None
            base = by_key.get((name, dim, act, "order0", m))
            ratio_fit = ratio_meas = None
            if base is not None and order > 0:
                b_ns, b_rel, b_fit = base
                b_nfit = samples_to_reach(b_fit, eps) if b_fit is not None else None
                # Only within both fitted ranges: extrapolated crossings of a flat
                # curve give meaningless ratios.
                usable = [r for r in (n_fit, b_nfit) if r and r["valid"] and not r["extrapolated"]]
                if len(usable) == 2:
                    ratio_fit = b_nfit["value"] / n_fit["value"]
                b_meas = crossing_point(b_ns, geo_mean(b_rel), eps) if b_rel else None
                if n_meas and b_meas:
                    ratio_meas = b_meas / n_meas
            table.append(
                {
                    "function": name,
                    "dim": dim,
                    "activation": act,
                    "metric": m,
                    "target": eps,
                    "method": method,
                    "order": order,
                    "n_fit": n_fit,
                    "n_measured": n_meas,
                    "ratio_fit": ratio_fit,
                    "ratio_measured": ratio_meas,
                    "heuristic_ratio": constraints_per_sample(dim, order),
                    "polynomial_ratio": _polynomial_ratio(dim, order, degree),
                }
            )
    return {
        "curves": curves,
        "samples_to_target": table,
        "rows": csv_rows(cfgs, payloads),
        "verdicts": curve_verdicts(
            curves,
            ["function", "dim", "activation"],
            "n",
            "n",
            "order0",
            ("w12", "l2"),
            "{method} reaches a lower {metric} error than order0 at equal n",
        ),
        "convergence": convergence_unassessed(
            sum(len(p["members"]) for p in payloads if p is not None)
        ),
    }


def csv_rows(cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]) -> list[dict]:
    """One flat row per trained model (for the CSV file)."""
    rows = []
    for cfg, pay in zip(cfgs, payloads, strict=True):
        base = {
            "function": cfg["function"],
            "dim": cfg["dim"],
            "activation": cfg["activation"],
            "n": cfg["n"],
        }
        if pay is None:
            rows.append({**base, "method": "+".join(cfg["methods"]), "status": "failed"})
            continue
        for r in pay["members"]:
            # A fixed column order: members read back from cell files have sorted keys.
            order = ["seed", "method", "order", "train_loss"]
            order += [k for m in _METRICS for k in (m, m + "_rel") if k in r]
            rows.append({**base, "status": "done", **{k: r[k] for k in order}})
    return rows


def _samples_markdown(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        if r["order"] == 0:
            continue
        fit = r["n_fit"]["value"] if r["n_fit"] and r["n_fit"]["valid"] else None
        body.append(
            [
                r["dim"],
                r["activation"],
                r["metric"],
                r["target"],
                r["method"],
                fmt(r["n_measured"]),
                fmt(fit),
                fmt(r["ratio_measured"]),
                fmt(r["ratio_fit"]),
                r["heuristic_ratio"],
                fmt(r["polynomial_ratio"]),
            ]
        )
    header = ["d", "activation", "metric", "target", "method", "n measured", "n fit"]
    header += ["ratio measured", "ratio fit", "C(d+k, k)", "polynomial ratio"]
    return markdown_table(header, body)


def render(config: SamplesConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (one row per trained model) and ``result.md``."""
    rates = [
        {
            **{k: c[k] for k in ("dim", "activation", "method")},
            "metric": m,
            "rate": None if c["fits"][m] is None else c["fits"][m]["exponent"],
            "rate_ci": None if c["fits"][m] is None else c["fits"][m]["exponent_ci"],
            "first_error": float(geo_mean(c["errors"][m])[0]) if c["seeds"] else None,
            "last_error": float(geo_mean(c["errors"][m])[-1]) if c["seeds"] else None,
        }
        for c in summary["curves"]
        for m in _METRICS
    ]
    md = f"# Sample complexity of regular vs Sobolev training ({config.function})\n\n"
    md += f"Fitted rates a of the relative error ~ n^-a over n >= {config.fit_min_n} (95% CI), "
    md += "and the geometric-mean relative error at the smallest and largest n:\n\n"
    md += rates_markdown(rates, ["dim", "activation", "method", "metric"])
    md += "\nSamples to reach a target error (measured: log-log interpolation of the "
    md += "geometric-mean curve; fit: the power law), the ratio n_order0 / n_method, and "
    md += "the counting heuristic C(d + k, k):\n\n"
    md += _samples_markdown(summary["samples_to_target"])
    md += verdicts_markdown(summary, "order0", "at equal n")
    return {"result.csv": csv_text(summary["rows"]), "result.md": md}


STUDY = Study(
    name="samples",
    description="error vs number of training points for orders 0, 1, 2; power-law fits",
    config=SamplesConfig,
    presets={
        "quick": {
            "dims": [1, 2],
            "n": [4, 16, 64],
            "n_order2_max": 16,
            "seeds": [0, 1],
            "steps": 60,
            "fit_min_n": 4,
            "norm_quality": "low",
        },
        "full": {},
        "large": {
            "activations": ["tanh", "relu"],
            "n_order2_max": 2048,
            "hidden": [64, 64],
            "seeds": [0, 1, 2, 3],
            "steps": 3000,
        },
    },
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
