"""Tables of the regression study: summary rows, CSV and a paper-shaped Markdown table."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["convergence_rows", "markdown", "summary_rows", "to_csv"]

METRICS = (
    "test_mse_values",
    "test_mse_gradients",
    "test_nmse_values",
    "test_mse_values_away",
    "test_mse_gradients_away",
)

CSV_COLUMNS = (
    "function",
    "dim",
    "n_train",
    "method",
    "steps",
    "n_seeds",
    *(f"{m}_{s}" for m in METRICS for s in ("mean", "sem")),
    "ratio_values",
    "ratio_gradients",
    "rel_change_values_2x",
    "rel_change_gradients_2x",
)


def mean_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (ddof = 1; 0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    sem = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else 0.0
    return float(a.mean()), sem


def _label(cell: dict[str, Any]) -> str:
    return cell["function"] if cell["dim"] is None else f"{cell['function']}:{cell['dim']}"


def summary_rows(cells: Sequence[dict], payloads: Sequence[dict]) -> list[dict[str, Any]]:
    """One row per (function, size, steps, method): mean and s.e.m. over seeds.

    ``ratio_*`` is mean(regular) / mean(method): above 1 means the method beats
    regular training.
    """
    rows = []
    for cell, pay in zip(cells, payloads, strict=True):
        reg = pay["methods"].get("regular")
        for method, res in pay["methods"].items():
            row: dict[str, Any] = {
                "function": _label(cell),
                "dim": cell["dim"] or 2,
                "n_train": cell["n_train"],
                "method": method,
                "steps": cell["steps"],
                "n_seeds": len(cell["seeds"]),
            }
            for m in METRICS:
                if m in res:
                    row[f"{m}_mean"], row[f"{m}_sem"] = mean_sem(res[m])
            for short, m in (("values", "test_mse_values"), ("gradients", "test_mse_gradients")):
                row[f"ratio_{short}"] = (
                    float(np.mean(reg[m]) / np.mean(res[m])) if reg is not None else None
                )
            rows.append(row)
    return rows


def convergence_rows(rows: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """Relative change of each mean test MSE when the budget doubles (in place too).

    ``rel_change = (mean at 2 steps - mean at steps) / mean at steps``; the rows at
    ``steps`` receive ``rel_change_values_2x`` and ``rel_change_gradients_2x``.
    """
    key = {(r["function"], r["n_train"], r["method"], r["steps"]): r for r in rows}
    out = []
    for r in rows:
        if r["steps"] != steps:
            continue
        r2 = key.get((r["function"], r["n_train"], r["method"], 2 * steps))
        if r2 is None:
            continue
        entry = {k: r[k] for k in ("function", "n_train", "method")}
        for short in ("values", "gradients"):
            a, b = r[f"test_mse_{short}_mean"], r2[f"test_mse_{short}_mean"]
            entry[f"rel_change_{short}"] = r[f"rel_change_{short}_2x"] = (b - a) / a
        entry["converged"] = all(
            abs(entry[f"rel_change_{s}"]) < 0.1 for s in ("values", "gradients")
        )
        out.append(entry)
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """All rows as CSV text with the columns :data:`CSV_COLUMNS` (empty when absent)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {k: ("" if r.get(k) is None else _fmt_csv(r.get(k, ""))) for k in CSV_COLUMNS}
        )
    return buf.getvalue()


def _fmt_csv(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def _fmt(mean: float, sem: float) -> str:
    return f"{mean:.3g} ± {sem:.2g}"


def _table(rows, functions, sizes, methods, cell_text) -> list[str]:
    lines = ["| n | method | " + " | ".join(functions) + " |"]
    lines.append("|---|---|" + "---|" * len(functions))
    index = {(r["function"], r["n_train"], r["method"]): r for r in rows}
    for n in sizes:
        for m in methods:
            cells = []
            for fn in functions:
                r = index.get((fn, n, m))
                cells.append("" if r is None else cell_text(r))
            lines.append(f"| {n} | {m} | " + " | ".join(cells) + " |")
    return lines


def markdown(payload: dict[str, Any]) -> str:
    """Paper-shaped tables: functions as columns, {sizes} x {methods} as rows."""
    cfg = payload["config"]
    rows = [r for r in payload["rows"] if r["steps"] == cfg["steps"]]
    functions = list(dict.fromkeys(r["function"] for r in rows))
    sizes, methods = cfg["n_train"], cfg["methods"]
    out = [
        f"# Regression study: {cfg['name']} preset",
        "",
        f"MLP {cfg['hidden']} {cfg['activation']}, full-batch Adam, {cfg['steps']} steps, "
        f"lr {cfg['lr']} ({cfg['schedule']}), {cfg['seeds']} seeds, {cfg['n_test']} uniform "
        f"test points per seed; inputs/outputs normalised: {cfg['normalise']} (unit weights). "
        "Entries: mean ± standard error over seeds, original units.",
        "",
        "## Test MSE of values",
        "",
        *_table(
            rows,
            functions,
            sizes,
            methods,
            lambda r: _fmt(r["test_mse_values_mean"], r["test_mse_values_sem"]),
        ),
        "",
        "## Test MSE of gradients",
        "",
        *_table(
            rows,
            functions,
            sizes,
            methods,
            lambda r: _fmt(r["test_mse_gradients_mean"], r["test_mse_gradients_sem"]),
        ),
        "",
        "## Ratio regular / method (values, gradients); > 1: the method wins",
        "",
        *_table(
            rows,
            functions,
            sizes,
            [m for m in methods if m != "regular"],
            lambda r: (
                f"{r['ratio_values']:.3g}, {r['ratio_gradients']:.3g}"
                if r["ratio_values"] is not None
                else ""
            ),
        ),
    ]
    away = [r for r in rows if "test_mse_gradients_away_mean" in r]
    if away:
        out += [
            "",
            f"## Non-smooth functions: test points >= {cfg['kink_margin']} x domain diagonal "
            "from the kink set",
            "",
            "| function | n | method | MSE values | MSE gradients |",
            "|---|---|---|---|---|",
        ]
        for r in away:
            out.append(
                f"| {r['function']} | {r['n_train']} | {r['method']} | "
                f"{_fmt(r['test_mse_values_away_mean'], r['test_mse_values_away_sem'])} | "
                f"{_fmt(r['test_mse_gradients_away_mean'], r['test_mse_gradients_away_sem'])} |"
            )
    conv = payload.get("convergence") or []
    if conv:
        n_ok = sum(c["converged"] for c in conv)
        out += [
            "",
            f"## Convergence: relative change of the mean test MSE at {2 * cfg['steps']} steps",
            "",
            f"{n_ok} of {len(conv)} (function, n, method) cells change by less than 10% in "
            "both values and gradients.",
            "",
            "| function | n | method | values | gradients | < 10% |",
            "|---|---|---|---|---|---|",
        ]
        for c in conv:
            out.append(
                f"| {c['function']} | {c['n_train']} | {c['method']} | "
                f"{c['rel_change_values']:+.1%} | {c['rel_change_gradients']:+.1%} | "
                f"{'yes' if c['converged'] else 'no'} |"
            )
    out += ["", "## Notes", "", f"- Normalisation: {payload.get('normalisation', 'none')}."]
    if away:
        out.append(f"- Kinks: {payload.get('kinks', '')}.")
    if conv:
        out.append(
            "- Cells that miss 10% are reported as measured. With ReLU networks the exact "
            "first-order loss is discontinuous in the weights (each training point's Jacobian "
            "jumps when an activation pattern flips), so Sobolev training losses plateau and "
            "wander instead of settling; see the per-seed training losses in the JSON."
        )
    return "\n".join(out) + "\n"
