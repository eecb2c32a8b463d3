"""Summary and tables of the universal-approximation study (see :mod:`.universal`).

Curves per (function, dim, activation, method) with power-law rates over seeds, the
construction's reference curve, the flat per-member rows (training loss, gradient
norm and convergence beside every error), paired verdicts and the convergence record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sobolev_lab.approx.common import METRICS
from sobolev_lab.approx.report import (
    curve_arrays,
    curve_verdicts,
    fit_or_none,
    rates_markdown,
    verdicts_markdown,
)
from sobolev_lab.protocol import CRITERION, convergence_record
from sobolev_lab.tables import csv_text, fmt, markdown_table

__all__ = ["csv_rows", "render", "summarise"]

#: Per-member training diagnostics carried into the curves, (S x K) each.
DIAGNOSTICS = ("train_loss", "val_loss", "grad_norm", "converged")


def summarise(
    config: Any, cfgs: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
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
            key = (cfg["function"], cfg["dim"], cfg["activation"], 1, row["method"])
            groups.setdefault(key, {}).setdefault(cfg["width"], {})[row["seed"]] = row
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
            **curve_arrays(by_width, widths, seeds, METRICS, DIAGNOSTICS),
            "fits": {},
        }
        for m in METRICS:
            rel = curve["errors"][m]
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
        "convergence": convergence_record(
            [
                bool(r["converged"])
                for p in payloads
                if p is not None and "members" in p
                for r in p["members"]
            ],
            CRITERION + " (held-out: fresh points of the target; budget: Adam + L-BFGS iterations)",
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
                        "hidden_layers": 1,
                        "width": cfg["width"],
                        "n_train": cfg["n_train"],
                        "status": "done",
                        **{k: r.get(k) for k in _COLUMNS},
                    }
                )
    return rows


_COLUMNS = (
    "seed", "method", "train_loss", "train_order0", "train_order1", "val_loss", "grad_norm",
    "iterations", "lbfgs_iters", "converged", "param_shift",
    *(k for m in METRICS for k in (m, m + "_rel")),
)  # fmt: skip


def _width_markdown(curves: list[dict[str, Any]]) -> str:
    body = []
    for c in curves:
        for k, w in enumerate(c["widths"]):
            col = lambda key, k=k, c=c: [row[k] for row in c[key]]  # noqa: E731
            geo = lambda v: float(np.exp(np.mean(np.log(v))))  # noqa: E731
            body.append(
                [
                    c["function"], c["dim"], c["activation"], c["method"], w,
                    *(fmt(geo(col_rel)) for col_rel in (
                        [row[k] for row in c["errors"][m]] for m in METRICS
                    )),
                    fmt(geo(col("train_loss"))), fmt(max(col("grad_norm"))),
                    f"{sum(map(bool, col('converged')))}/{len(c['seeds'])}",
                ]
            )  # fmt: skip
    header = ["function", "d", "activation", "method", "width", "L2 rel", "W12 rel"]
    header += ["W1inf rel", "train loss", "max |grad|", "converged"]
    return markdown_table(header, body)


def render(config: Any, summary: dict[str, Any]) -> dict[str, str]:
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
    md += "\nPer width: geometric means over seeds of the relative errors and of the final "
    md += "training loss (scaled units), the largest final gradient norm, converged trainings:\n\n"
    md += _width_markdown(summary["curves"])
    md += verdicts_markdown(summary, "regular", "at equal width")
    return {"result.csv": csv_text(summary["rows"]), "result.md": md}
