"""Tables of the regression study, drawn from its summary only: CSV and Markdown.

:func:`render` returns ``result.csv`` (every summary row, :data:`CSV_COLUMNS`) and
``result.md``: the paper's layout (functions as columns) up to
:data:`WIDE_MAX_FUNCTIONS` functions, one row per function beyond (the ``extended``
preset, ``d`` = 2, 4, 8); win counts per method, dimension and size; the metrics away
from kinks; the convergence table; the Holm-corrected paired verdicts. What the
numbers mean is discussed in ``results/regression/README.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sobolev_lab.experiments.regression.aggregate import (
    METRICS,
    PAIRED_STATS,
    SHORTS,
    real_misses,
)
from sobolev_lab.tables import csv_text, markdown_table, verdict_table

__all__ = ["CSV_COLUMNS", "WIDE_MAX_FUNCTIONS", "markdown", "render", "to_csv"]

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
    *(f"{stat}_{short}_2x" for short, _ in SHORTS for stat in PAIRED_STATS),
)

#: Up to this many functions, tables take the paper's layout (functions as columns).
WIDE_MAX_FUNCTIONS = 8


def to_csv(rows: list[dict[str, Any]]) -> str:
    """All rows as CSV text with the columns :data:`CSV_COLUMNS` (floats to 6 digits)."""
    return csv_text(
        [{k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows],
        CSV_COLUMNS,
    )


def _pm(mean: float, sem: float) -> str:
    return f"{mean:.3g} ± {sem:.2g}"


def _pct(x: float) -> str:
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


def _pct_pm(value: float, se: float) -> str:
    return f"{value:+.1%} ± {se:.1%}"


def _ratio(r: dict[str, Any] | None) -> str:
    ok = r is not None and r["ratio_values"] is not None
    return f"{r['ratio_values']:.3g}, {r['ratio_gradients']:.3g}" if ok else ""


def _wide(rows, functions, sizes, methods, cell_text) -> str:
    index = {(r["function"], r["n_train"], r["method"]): r for r in rows}
    body = []
    for n in sizes:
        for m in methods:
            cols = [index.get((fn, n, m)) for fn in functions]
            body.append([n, m, *("" if r is None else cell_text(r) for r in cols)])
    return markdown_table(["n", "method", *functions], body)


def _wide_tables(rows, functions, sizes, methods) -> list[str]:
    """The paper's layout: functions as columns, {sizes} x {methods} as rows."""
    out = []
    for short, metric in SHORTS:
        text = lambda r, m=metric: _pm(r[f"{m}_mean"], r[f"{m}_sem"])  # noqa: E731
        out += [f"## Test MSE of {short}", "", _wide(rows, functions, sizes, methods, text)]
    others = [m for m in methods if m != "regular"]
    return [
        *out,
        "## Ratio regular / method (values, gradients); > 1: the method wins",
        "",
        _wide(rows, functions, sizes, others, _ratio),
    ]


def _long_tables(rows, methods) -> list[str]:
    """One row per (function, size): for many functions (the paper's layout gets too wide)."""
    index = {(r["function"], r["n_train"], r["method"]): r for r in rows}
    keys = list(dict.fromkeys((r["function"], r["dim"], r["n_train"]) for r in rows))
    others = [m for m in methods if m != "regular"]
    mse, ratios = [], []
    for fn, d, n in keys:
        cols = []
        for _, metric in SHORTS:
            for m in methods:
                r = index.get((fn, n, m))
                cols.append("" if r is None else _pm(r[f"{metric}_mean"], r[f"{metric}_sem"]))
        mse.append([fn, d, n, *cols])
        ratios.append([fn, d, n, *(_ratio(index.get((fn, n, m))) for m in others)])
    return [
        "## Test MSE of values and gradients",
        "",
        markdown_table(
            ["function", "d", "n", *(f"{s}: {m}" for s, _ in SHORTS for m in methods)], mse
        ),
        "## Ratio regular / method (values, gradients); > 1: the method wins",
        "",
        markdown_table(["function", "d", "n", *others], ratios),
    ]


def _wins_section(comps: list[dict[str, Any]]) -> list[str]:
    """Counts of wins and losses against regular training, per method, dimension and size."""
    if not comps:
        return []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in comps:
        groups.setdefault((c["method"], c["dim"], c["n_train"]), []).append(c)
    body = []
    for (method, d, n), cs in sorted(groups.items(), key=lambda kv: kv[0]):
        cols = []
        for short, _ in SHORTS:
            wins = sum(c[f"ratio_{short}"] > 1 for c in cs)
            clear_w = sum(c[f"clear_{short}"] > 0 for c in cs)
            clear_l = sum(c[f"clear_{short}"] < 0 for c in cs)
            cols += [f"{wins} ({clear_w})", f"{clear_l}"]
        body.append([method, d, n, len(cs), *cols])
    header = ["method", "d", "n", "functions"]
    header += [f"{s}: {k}" for s, _ in SHORTS for k in ("wins (clear)", "clear losses")]
    return [
        "## Wins and losses against regular training",
        "",
        "Per (function, n): *wins* = ratio of the means > 1; *clear* = the per-seed "
        "log(MSE regular / MSE method) (same data and initial weights for both) has a mean "
        "more than 2 standard errors from 0.",
        "",
        markdown_table(header, body).rstrip("\n"),
    ]


def _away_section(rows, summary, kink_margin) -> list[str]:
    away = [r for r in rows if "test_mse_gradients_away_mean" in r]
    if not away:
        return []
    excluded = {(e["function"], e["n_train"]): e["fraction"] for e in summary["kink_excluded"]}
    body = []
    for r in away:
        frac = excluded.get((r["function"], r["n_train"]))
        body.append(
            [
                r["function"],
                r["n_train"],
                r["method"],
                "" if frac is None else f"{frac:.2%}",
                _pm(r["test_mse_values_away_mean"], r["test_mse_values_away_sem"]),
                _pm(r["test_mse_gradients_away_mean"], r["test_mse_gradients_away_sem"]),
            ]
        )
    header = ["function", "n", "method", "test points excluded", "MSE values", "MSE gradients"]
    return [
        "",
        f"## Non-smooth functions: test points >= {kink_margin} x domain diagonal "
        "from the kink set",
        "",
        markdown_table(header, body).rstrip("\n"),
    ]


def _verdict_stability(all_rows: list[dict[str, Any]], steps: int) -> list[str]:
    """Which wins or losses against regular training flip when the budget doubles."""
    index = {(r["function"], r["n_train"], r["method"], r["steps"]): r for r in all_rows}
    flips, total = [], 0
    for (fn, n, method, st), r in index.items():
        r2 = index.get((fn, n, method, 2 * steps))
        if st != steps or method == "regular" or r2 is None or r["ratio_values"] is None:
            continue
        total += 1
        for short, _ in SHORTS:
            a, b = r[f"ratio_{short}"], r2[f"ratio_{short}"]
            if (a > 1) != (b > 1):
                flips.append(f"{fn} n={n} {method} {short} ({a:.3g} -> {b:.3g})")
    return [
        f"Verdicts against regular training at {2 * steps} steps: of {total} (function, n, "
        f"method) comparisons, {len(flips)} win/loss verdict(s) on values or gradients flip "
        "(ratio of the means crossing 1)" + (": " + "; ".join(flips) + "." if flips else ".")
    ]


def _convergence_section(conv: list[dict[str, Any]], config) -> list[str]:
    """The convergence table with its paired noise columns."""
    n_ok = sum(c["converged"] for c in conv)
    misses = [c for c in conv if not c["converged"]]
    real = [c for c in misses if real_misses(c)]

    def name(c: dict[str, Any]) -> str:
        moved = [f"{s} {c[f'rel_change_{s}']:+.0%}" for s in real_misses(c)]
        return f"{c['function']} n={c['n_train']} {c['method']} ({', '.join(moved)})"

    rel_sem = sorted(c[f"rel_sem_{s}"] for c in conv for s, _ in SHORTS)
    body = []
    for c in conv:
        cols = []
        for s, _ in SHORTS:
            cols += [
                _pct_pm(c[f"rel_change_{s}"], c[f"rel_change_paired_se_{s}"]),
                f"{c[f'log_ratio_mean_{s}']:+.3f} ± {c[f'log_ratio_sem_{s}']:.3f}",
                _pct(c[f"rel_sem_{s}"]),
            ]
        yes = ["yes" if c[k] else "no" for k in ("converged", "within_2se")]
        body.append([c["function"], c["n_train"], c["method"], *cols, *yes])
    header = ["function", "n", "method"]
    header += [f"{s}: {k}" for s, _ in SHORTS for k in ("change", "log ratio", "s.e./mean")]
    header += ["< 10%", "within 2 s.e."]
    return [
        f"## Convergence: the test MSEs at {2 * config.steps} vs {config.steps} steps",
        "",
        f"{n_ok} of {len(conv)} (function, n, method) cells change by less than 10% in "
        "both values and gradients.",
        "",
        f"Paired over the {config.seeds} seeds (seed s has the same data and initial weights "
        f"at both budgets): of the {len(misses)} misses, {len(misses) - len(real)} change by "
        "10% or more only where the change is within 2 paired standard errors of 0 (not "
        "distinguishable from the seed-to-seed noise of the optimisation path), and "
        f"{len(real)} change by 10% or more by more than 2 paired standard errors"
        + (": " + "; ".join(name(c) for c in real) + "." if real else "."),
        f"The seed-to-seed standard error of a reported mean is itself "
        f"{float(np.median(rel_sem)):.0%} of the mean (median over cells and both metrics; "
        f"range {rel_sem[0]:.0%} to {rel_sem[-1]:.0%}): where it exceeds 5%, a 10% change is "
        "within the table's own resolution.",
        "",
        "Columns per metric: change of the mean ± its paired standard error (s.e. of the "
        "per-seed differences / mean); mean ± s.e. over seeds of log(MSE at 2x / MSE at 1x); "
        "s.e. of the reported mean / mean. *Within 2 s.e.*: |mean log ratio| <= 2 s.e. for "
        "both metrics.",
        "",
        markdown_table(header, body).rstrip("\n"),
    ]


def _verdicts_section(summary: dict[str, Any]) -> list[str]:
    vs = summary["verdicts"]
    counts = {k: sum(v["verdict"] == k for v in vs) for k in ("win", "loss", "tie")}
    conv = summary["convergence"]
    converged = (
        f"not checked ({conv['trainings']} trainings)"
        if conv["converged"] is None
        else f"{conv['converged']} of {conv['trainings']}"
    )
    return [
        "",
        "## Paired verdicts against regular training (Holm-corrected across this table)",
        "",
        "Ratio: geometric mean over seeds of MSE regular / MSE method (> 1: the method has "
        "the lower error), with its 95% t interval; a win or loss needs the interval to "
        "exclude 1 and the Holm-adjusted p-value below 0.05 "
        f"(sobolev_lab.stats.paired_verdicts). {counts['win']} wins, {counts['loss']} losses, "
        f"{counts['tie']} ties. Converged trainings: {converged}.",
        "",
        verdict_table(vs).rstrip("\n"),
    ]


def markdown(config, summary: dict[str, Any]) -> str:
    """The study as Markdown (see the module docstring)."""
    steps = config.steps
    rows = [r for r in summary["rows"] if r["steps"] == steps]
    functions = list(dict.fromkeys(r["function"] for r in rows))
    methods = list(config.methods)
    out = [
        "# Regression study",
        "",
        f"MLP {list(config.hidden)} {config.activation}, full-batch Adam, {steps} steps, "
        f"lr {config.lr} ({config.schedule}), {config.seeds} seeds, {config.n_test} uniform "
        f"test points per seed; inputs/outputs normalised: {config.normalise} (unit weights). "
        "Entries: mean ± standard error over seeds, original units.",
        "",
    ]
    if len(functions) <= WIDE_MAX_FUNCTIONS:
        out += _wide_tables(rows, functions, list(config.n_train), methods)
    else:
        out += _long_tables(rows, methods)
    out += _wins_section(summary["comparisons"])
    away = _away_section(rows, summary, config.kink_margin)
    out += away
    conv = summary["convergence_rows"]
    if conv:
        out += ["", *_convergence_section(conv, config), ""]
        out += _verdict_stability(summary["rows"], steps)
    out += _verdicts_section(summary)
    out += ["", "## Notes", "", f"- Normalisation: {summary['normalisation']}."]
    if away:
        out.append(f"- Kinks: {summary['kinks']}.")
    return "\n".join(out) + "\n"


def render(config, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (every summary row) and ``result.md`` (:func:`markdown`)."""
    return {"result.csv": to_csv(summary["rows"]), "result.md": markdown(config, summary)}
