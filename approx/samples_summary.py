"""Summary and tables of the sample-complexity study (see :mod:`.sample_complexity`).

Curves per (function, dim, activation, method) with power-law fits over seeds,
samples-to-target rows with the method's sample ratio against the counting heuristic
``C(d + k, k)`` and the exact polynomial counting of :mod:`sobolev_lab.theory`, the
flat per-member rows (training loss, gradient norm, convergence beside every error),
paired verdicts and the convergence record.
"""

from __future__ import annotations

import math
from typing import Any

from sobolev_lab.approx.report import (
    curve_arrays,
    curve_verdicts,
    geo_mean,
    rates_markdown,
    verdicts_markdown,
)
from sobolev_lab.approx.samples_train import METHODS
from sobolev_lab.approx.samples_train import METRICS as _METRICS
from sobolev_lab.curves import crossing_point, fit_power_law, samples_to_reach
from sobolev_lab.protocol import CRITERION, convergence_record
from sobolev_lab.stats import paired_log_ratio
from sobolev_lab.tables import csv_text, fmt, markdown_table
from sobolev_lab.theory.sample_complexity import predicted_points

__all__ = ["constraints_per_sample", "csv_rows", "render", "summarise"]


def _cross(ns: list[int], errors: list[float], eps: float) -> float:
    """First crossing of one seed's curve below ``eps`` (nan if it never crosses)."""
    n = crossing_point(ns, errors, eps)
    return math.nan if n is None else float(n)


def constraints_per_sample(dim: int, order: int) -> int:
    """Scalar constraints a sample of derivative order ``order`` carries: C(d + k, k)."""
    return math.comb(dim + order, order)


def _polynomial_ratio(dim: int, order: int, degree: int | None) -> float | None:
    """Points to identify a degree-q polynomial from values / from values + gradients."""
    if degree is None or order != 1:
        return None
    return predicted_points(dim, degree, False) / predicted_points(dim, degree, True)


def summarise(
    config: Any, cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
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
            **curve_arrays(by_n, ns, seeds, _METRICS),
            "fits": {},
        }
        for m in _METRICS:
            rel = curve["errors"][m]
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
            ratio_fit = ratio_meas = per_seed = None
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
                # Per seed: the first crossing of each seed's curve, paired over seeds.
                per_seed = paired_log_ratio(
                    [_cross(b_ns, r, eps) for r in b_rel], [_cross(ns, r, eps) for r in rel]
                ) if len(rel) == len(b_rel) else None  # fmt: skip
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
                    "ratio_seeds": per_seed,
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
        "convergence": convergence_record(
            [bool(r["converged"]) for p in payloads if p is not None for r in p["members"]],
            CRITERION + " (held-out: the objective on 1024 fresh points, which monitor but "
            "never select: the final network is kept; budget: Adam + L-BFGS iterations)",
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
            order = ["seed", "method", "order", "train_loss", "train_order0", "train_order1"]
            order += ["grad_norm", "iterations", "lbfgs_iters", "converged"]
            order += [k for m in _METRICS for k in (m, m + "_rel") if k in r]
            rows.append({**base, "status": "done", **{k: r[k] for k in order}})
    return rows


def _ratio_ci(r: dict[str, Any] | None) -> str:
    if not r or r["ratio"] is None:
        return "-"
    ci = "" if r["ci"] is None else f" [{fmt(r['ci'][0])}, {fmt(r['ci'][1])}]"
    return f"{fmt(r['ratio'])}{ci} ({r['n_seeds']})"


def _samples_markdown(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        if r["order"] == 0:
            continue
        fit = r["n_fit"]["value"] if r["n_fit"] and r["n_fit"]["valid"] else None
        body.append(
            [
                r["function"],
                r["dim"],
                r["activation"],
                r["metric"],
                r["target"],
                r["method"],
                fmt(r["n_measured"]),
                fmt(fit),
                fmt(r["ratio_measured"]),
                _ratio_ci(r.get("ratio_seeds")),
                fmt(r["ratio_fit"]),
                r["heuristic_ratio"],
                fmt(r["polynomial_ratio"]),
            ]
        )
    header = ["function", "d", "activation", "metric", "target", "method", "n measured", "n fit"]
    header += [
        "ratio measured",
        "ratio per seed [95% CI] (seeds)",
        "ratio fit",
        "C(d+k, k)",
        "polynomial ratio",
    ]
    return markdown_table(header, body)


def render(config: Any, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (one row per trained model) and ``result.md``."""
    rates = [
        {
            **{k: c[k] for k in ("function", "dim", "activation", "method")},
            "metric": m,
            "rate": None if c["fits"][m] is None else c["fits"][m]["exponent"],
            "rate_ci": None if c["fits"][m] is None else c["fits"][m]["exponent_ci"],
            "first_error": float(geo_mean(c["errors"][m])[0]) if c["seeds"] else None,
            "last_error": float(geo_mean(c["errors"][m])[-1]) if c["seeds"] else None,
        }
        for c in summary["curves"]
        for m in _METRICS
    ]
    md = f"# Sample complexity of regular vs Sobolev training ({', '.join(config.functions)})\n\n"
    md += f"Fitted rates a of the relative error ~ n^-a over n >= {config.fit_min_n} (95% CI), "
    md += "and the geometric-mean relative error at the smallest and largest n:\n\n"
    md += rates_markdown(rates, ["function", "dim", "activation", "method", "metric"])
    md += "\nSamples to reach a target error (measured: log-log interpolation of the "
    md += "geometric-mean curve; fit: the power law), the ratio n_order0 / n_method, and "
    md += "the counting heuristic C(d + k, k):\n\n"
    md += _samples_markdown(summary["samples_to_target"])
    md += verdicts_markdown(summary, "order0", "at equal n")
    return {"result.csv": csv_text(summary["rows"]), "result.md": md}
