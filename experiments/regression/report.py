"""Tables of the regression study: summary rows, CSV and Markdown.

Everything here is computed from the per-seed numbers of a result payload, so the
tables of a stored result regenerate without retraining
(:func:`sobolev_lab.experiments.regression.driver.regenerate`, ``sobolev regression --report-only``).

- :func:`summary_rows`: mean and standard error over seeds per (function, size,
  budget, method), and the ratio regular / method.
- :func:`convergence_rows`: the change of each mean test MSE when the budget doubles,
  with paired statistics over seeds (:func:`paired_stats`: seed ``s`` has the same data
  and initial weights at both budgets), which say whether a change is larger than the
  seed-to-seed noise of the optimisation path.
- :func:`method_comparisons`: per-seed paired comparison of each method with regular
  training (clear win / clear loss at 2 standard errors).
- :func:`markdown`: the paper's layout (functions as columns) up to
  :data:`WIDE_MAX_FUNCTIONS` functions, one row per function beyond (the ``extended``
  preset, ``d`` = 2, 4, 8); win counts per method, dimension and size; the metrics away
  from kinks; the convergence table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from sobolev_lab.stats import mean_sem

__all__ = [
    "convergence_rows",
    "markdown",
    "method_comparisons",
    "paired_stats",
    "rebuild",
    "summary_rows",
    "to_csv",
]

METRICS = (
    "test_mse_values",
    "test_mse_gradients",
    "test_nmse_values",
    "test_mse_values_away",
    "test_mse_gradients_away",
)

#: Paired statistics of the convergence check, per metric (see :func:`convergence_rows`).
PAIRED_STATS = ("rel_change_paired_se", "log_ratio_mean", "log_ratio_sem", "within_2se", "rel_sem")


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
    *(f"{stat}_{short}_2x" for short in ("values", "gradients") for stat in PAIRED_STATS),
)


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


def paired_stats(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired statistics of per-seed test MSEs at two budgets.

    Seed ``s`` has the same data and initial weights at both budgets, so per-seed
    comparisons cancel the seed-to-seed spread and leave the effect of the budget
    plus the noise of the optimisation path.

    Parameters
    ----------
    a, b : sequence of float, shape (S,)
        Per-seed MSEs at ``steps`` and at ``2 * steps``, aligned by seed.

    Returns
    -------
    dict
        ``rel_change`` (of the mean), ``rel_change_paired_se`` (standard error of the
        per-seed differences over the mean of ``a``), ``log_ratio_mean`` and
        ``log_ratio_sem`` (of ``log(b / a)`` over seeds), ``within_2se``
        (``|log_ratio_mean| <= 2 log_ratio_sem``) and ``rel_sem`` (seed-to-seed
        standard error of the mean of ``a``, over that mean).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"a and b must be per-seed MSEs of one shape (S,), got {a.shape}, {b.shape}"
        )
    if not (np.all(a > 0) and np.all(b > 0) and np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite positive MSEs")
    mean_a = float(a.mean())
    lr_mean, lr_sem = mean_sem(np.log(b / a))
    return {
        "rel_change": (float(b.mean()) - mean_a) / mean_a,
        "rel_change_paired_se": mean_sem(b - a)[1] / mean_a,
        "log_ratio_mean": lr_mean,
        "log_ratio_sem": lr_sem,
        "within_2se": bool(abs(lr_mean) <= 2 * lr_sem),
        "rel_sem": mean_sem(a)[1] / mean_a,
    }


def convergence_rows(
    rows: list[dict[str, Any]], steps: int, cells: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """How each mean test MSE changes when the budget doubles (rows updated in place).

    Parameters
    ----------
    rows : list of dict
        :func:`summary_rows` of the cells at ``steps`` and at ``2 * steps``.
    steps : int
        The reported budget.
    cells : sequence of dict, optional
        The payload's ``cells`` (``{"cell": config, "methods": per-seed metrics}``).
        When given, every entry also holds the paired statistics of
        :func:`paired_stats` for ``short`` in ``("values", "gradients")`` as
        ``<stat>_<short>`` (e.g. ``log_ratio_mean_values``), and ``within_2se``
        (both metrics within 2 paired standard errors of no change).

    Returns
    -------
    list of dict
        One entry per (function, n, method) present at both budgets:
        ``rel_change_values``, ``rel_change_gradients`` and ``converged`` (both below
        10% in magnitude). The rows at ``steps`` receive ``rel_change_<short>_2x`` and,
        with ``cells``, ``<stat>_<short>_2x`` (the CSV's convergence columns).
    """
    key = {(r["function"], r["n_train"], r["method"], r["steps"]): r for r in rows}
    per_seed = {}
    for c in cells or ():
        for method, res in c["methods"].items():
            per_seed[(_label(c["cell"]), c["cell"]["n_train"], method, c["cell"]["steps"])] = res
    out = []
    for r in rows:
        if r["steps"] != steps:
            continue
        ident = (r["function"], r["n_train"], r["method"])
        r2 = key.get((*ident, 2 * steps))
        if r2 is None:
            continue
        entry = dict(zip(("function", "n_train", "method"), ident, strict=True))
        for short in ("values", "gradients"):
            a, b = r[f"test_mse_{short}_mean"], r2[f"test_mse_{short}_mean"]
            entry[f"rel_change_{short}"] = r[f"rel_change_{short}_2x"] = (b - a) / a
        entry["converged"] = all(
            abs(entry[f"rel_change_{s}"]) < 0.1 for s in ("values", "gradients")
        )
        first, second = per_seed.get((*ident, steps)), per_seed.get((*ident, 2 * steps))
        if first is not None and second is not None:
            for short in ("values", "gradients"):
                metric = f"test_mse_{short}"
                stats = paired_stats(first[metric], second[metric])
                for name in PAIRED_STATS:
                    entry[f"{name}_{short}"] = r[f"{name}_{short}_2x"] = stats[name]
            entry["within_2se"] = entry["within_2se_values"] and entry["within_2se_gradients"]
        out.append(entry)
    return out


def rebuild(payload: dict[str, Any]) -> dict[str, Any]:
    """A result payload with ``rows`` and ``convergence`` recomputed from its per-seed cells.

    Regenerates the tables of a stored result (also one written before the paired
    convergence statistics existed) without retraining. The per-seed numbers are the
    source; the recomputed summary must match the stored one.

    Raises
    ------
    ValueError
        If a recomputed summary number differs from the stored one (the file's rows
        and cells disagree).
    """
    cfg = payload["config"]
    cells = payload["cells"]
    rows = summary_rows([c["cell"] for c in cells], cells)
    stored = payload.get("rows")
    if stored is not None:
        if len(stored) != len(rows):
            raise ValueError(f"payload has {len(stored)} rows, its cells give {len(rows)}")
        for old, new in zip(stored, rows, strict=True):
            for k, v in new.items():
                if k in old and old[k] != v:
                    raise ValueError(f"stored row {k} = {old[k]!r} differs from the cells: {v!r}")
    convergence = convergence_rows(rows, cfg["steps"], cells) if cfg["convergence_check"] else []
    return {**payload, "rows": rows, "convergence": convergence}


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


#: Up to this many functions, tables take the paper's layout (functions as columns).
WIDE_MAX_FUNCTIONS = 8


def markdown(payload: dict[str, Any]) -> str:
    """The study as Markdown: MSE and ratio tables, wins, kinks, convergence, notes.

    Up to :data:`WIDE_MAX_FUNCTIONS` functions the tables are shaped like the paper's
    (functions as columns, {sizes} x {methods} as rows); beyond, one row per function
    and size.
    """
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
    ]
    if len(functions) <= WIDE_MAX_FUNCTIONS:
        out += _wide_tables(rows, functions, sizes, methods)
    else:
        out += _long_tables(rows, methods)
    out += ["", *_wins_section(payload)]
    away = [r for r in rows if "test_mse_gradients_away_mean" in r]
    if away:
        excluded = {
            (_label(c["cell"]), c["cell"]["n_train"]): c["kink"][
                "fraction_excluded_from_away_metrics"
            ]
            for c in payload.get("cells", [])
            if c.get("kink") and c["cell"]["steps"] == cfg["steps"]
        }
        out += [
            "",
            f"## Non-smooth functions: test points >= {cfg['kink_margin']} x domain diagonal "
            "from the kink set",
            "",
            "| function | n | method | test points excluded | MSE values | MSE gradients |",
            "|---|---|---|---|---|---|",
        ]
        for r in away:
            frac = excluded.get((r["function"], r["n_train"]))
            out.append(
                f"| {r['function']} | {r['n_train']} | {r['method']} | "
                f"{'' if frac is None else f'{frac:.2%}'} | "
                f"{_fmt(r['test_mse_values_away_mean'], r['test_mse_values_away_sem'])} | "
                f"{_fmt(r['test_mse_gradients_away_mean'], r['test_mse_gradients_away_sem'])} |"
            )
    conv = payload.get("convergence") or []
    if conv:
        out += ["", *_convergence_section(conv, cfg), "", *_verdict_stability(payload)]
    out += ["", "## Notes", "", f"- Normalisation: {payload.get('normalisation', 'none')}."]
    if away:
        out.append(f"- Kinks: {payload.get('kinks', '')}.")
    if conv:
        out.append(
            "- Cells that miss 10% are reported as measured. With ReLU networks the exact "
            "first-order loss is discontinuous in the weights (each training point's Jacobian "
            "jumps when an activation pattern flips), so Sobolev training losses plateau and "
            "wander instead of settling; see the per-seed training losses in the JSON. "
            "The paired columns say whether a miss is larger than that wandering: a miss "
            "within 2 paired standard errors is not distinguishable from it with this many "
            "seeds; one outside them is a real effect of the doubled budget (negative: "
            "training was still improving; positive: the longer run fits the training set at "
            "the expense of the test set, or drifts)."
        )
    return "\n".join(out) + "\n"


def _wide_tables(rows, functions, sizes, methods) -> list[str]:
    """The paper's layout: functions as columns, {sizes} x {methods} as rows."""
    return [
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


def _long_tables(rows, methods) -> list[str]:
    """One row per (function, size): for many functions (the paper's layout gets too wide)."""
    index = {(r["function"], r["n_train"], r["method"]): r for r in rows}
    keys = list(dict.fromkeys((r["function"], r["dim"], r["n_train"]) for r in rows))
    others = [m for m in methods if m != "regular"]
    mse_head = [f"{s}: {m}" for s in ("values", "gradients") for m in methods]
    lines = [
        "## Test MSE of values and gradients",
        "",
        "| function | d | n | " + " | ".join(mse_head) + " |",
        "|---|---|---|" + "---|" * len(mse_head),
    ]
    for fn, d, n in keys:
        cols = []
        for short in ("values", "gradients"):
            for m in methods:
                r = index.get((fn, n, m))
                k = f"test_mse_{short}"
                cols.append("" if r is None else _fmt(r[f"{k}_mean"], r[f"{k}_sem"]))
        lines.append(f"| {fn} | {d} | {n} | " + " | ".join(cols) + " |")
    lines += [
        "",
        "## Ratio regular / method (values, gradients); > 1: the method wins",
        "",
        "| function | d | n | " + " | ".join(others) + " |",
        "|---|---|---|" + "---|" * len(others),
    ]
    for fn, d, n in keys:
        cols = []
        for m in others:
            r = index.get((fn, n, m))
            ok = r is not None and r["ratio_values"] is not None
            cols.append(f"{r['ratio_values']:.3g}, {r['ratio_gradients']:.3g}" if ok else "")
        lines.append(f"| {fn} | {d} | {n} | " + " | ".join(cols) + " |")
    return lines


def method_comparisons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired comparison of every method with regular training, per function and size.

    Seed ``s`` gives every method the same data and initial weights, so the per-seed
    ``log(MSE_regular / MSE_method)`` isolates the method's effect.

    Returns
    -------
    list of dict
        ``function``, ``dim``, ``n_train``, ``method`` and, per ``short`` in
        ``("values", "gradients")``: ``ratio_<short>`` (of the means),
        ``log_gain_<short>_mean`` / ``_sem`` (over seeds) and ``clear_<short>``:
        +1 (the method wins by more than 2 s.e.), -1 (loses by more than 2 s.e.) or 0.
    """
    steps = payload["config"]["steps"]
    out = []
    for c in payload["cells"]:
        cell, res = c["cell"], c["methods"]
        if cell["steps"] != steps or "regular" not in res:
            continue
        for method, r in res.items():
            if method == "regular":
                continue
            entry: dict[str, Any] = {
                "function": _label(cell),
                "dim": cell["dim"] or 2,
                "n_train": cell["n_train"],
                "method": method,
            }
            for short in ("values", "gradients"):
                reg = np.asarray(res["regular"][f"test_mse_{short}"], dtype=np.float64)
                other = np.asarray(r[f"test_mse_{short}"], dtype=np.float64)
                mean, sem = mean_sem(np.log(reg / other))
                entry[f"ratio_{short}"] = float(reg.mean() / other.mean())
                entry[f"log_gain_{short}_mean"], entry[f"log_gain_{short}_sem"] = mean, sem
                entry[f"clear_{short}"] = int(mean > 2 * sem) - int(mean < -2 * sem)
            out.append(entry)
    return out


def _wins_section(payload: dict[str, Any]) -> list[str]:
    """Counts of wins and losses against regular training, per method, dimension and size."""
    comps = method_comparisons(payload)
    if not comps:
        return []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in comps:
        groups.setdefault((c["method"], c["dim"], c["n_train"]), []).append(c)
    lines = [
        "## Wins and losses against regular training",
        "",
        "Per (function, n): *wins* = ratio of the means > 1; *clear* = the per-seed "
        "log(MSE regular / MSE method) (same data and initial weights for both) has a mean "
        "more than 2 standard errors from 0.",
        "",
        "| method | d | n | functions | values: wins (clear) | values: clear losses "
        "| gradients: wins (clear) | gradients: clear losses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (method, d, n), cs in sorted(groups.items(), key=lambda kv: kv[0]):
        cols = []
        for short in ("values", "gradients"):
            wins = sum(c[f"ratio_{short}"] > 1 for c in cs)
            clear_w = sum(c[f"clear_{short}"] > 0 for c in cs)
            clear_l = sum(c[f"clear_{short}"] < 0 for c in cs)
            cols += [f"{wins} ({clear_w})", f"{clear_l}"]
        lines.append(f"| {method} | {d} | {n} | {len(cs)} | " + " | ".join(cols) + " |")
    return lines


def _verdict_stability(payload: dict[str, Any]) -> list[str]:
    """Which wins or losses against regular training flip when the budget doubles."""
    steps = payload["config"]["steps"]
    index = {(r["function"], r["n_train"], r["method"], r["steps"]): r for r in payload["rows"]}
    flips, total = [], 0
    for (fn, n, method, st), r in index.items():
        r2 = index.get((fn, n, method, 2 * steps))
        if st != steps or method == "regular" or r2 is None or r["ratio_values"] is None:
            continue
        total += 1
        for short in ("values", "gradients"):
            a, b = r[f"ratio_{short}"], r2[f"ratio_{short}"]
            if (a > 1) != (b > 1):
                flips.append(f"{fn} n={n} {method} {short} ({a:.3g} -> {b:.3g})")
    return [
        f"Verdicts against regular training at {2 * steps} steps: of {total} (function, n, "
        f"method) comparisons, {len(flips)} win/loss verdict(s) on values or gradients flip "
        "(ratio of the means crossing 1)" + (": " + "; ".join(flips) + "." if flips else ".")
    ]


def _pct_pm(value: float, se: float) -> str:
    return f"{value:+.1%} ± {se:.1%}"


def _convergence_section(conv: list[dict[str, Any]], cfg: dict[str, Any]) -> list[str]:
    """The convergence table, with the paired noise columns when the entries have them."""
    n_ok = sum(c["converged"] for c in conv)
    lines = [
        f"## Convergence: the test MSEs at {2 * cfg['steps']} vs {cfg['steps']} steps",
        "",
        f"{n_ok} of {len(conv)} (function, n, method) cells change by less than 10% in "
        "both values and gradients.",
    ]
    if not all("within_2se" in c for c in conv):  # a result written before the paired stats
        lines += [
            "",
            "| function | n | method | values | gradients | < 10% |",
            "|---|---|---|---|---|---|",
        ]
        for c in conv:
            lines.append(
                f"| {c['function']} | {c['n_train']} | {c['method']} | "
                f"{c['rel_change_values']:+.1%} | {c['rel_change_gradients']:+.1%} | "
                f"{'yes' if c['converged'] else 'no'} |"
            )
        return lines

    def real_misses(c: dict[str, Any]) -> list[str]:
        """Metrics that change by >= 10% and by more than 2 paired standard errors."""
        return [
            s
            for s in ("values", "gradients")
            if abs(c[f"rel_change_{s}"]) >= 0.1 and not c[f"within_2se_{s}"]
        ]

    misses = [c for c in conv if not c["converged"]]
    real = [c for c in misses if real_misses(c)]

    def name(c: dict[str, Any]) -> str:
        moved = [f"{s} {c[f'rel_change_{s}']:+.0%}" for s in real_misses(c)]
        return f"{c['function']} n={c['n_train']} {c['method']} ({', '.join(moved)})"

    rel_sem = sorted(c[f"rel_sem_{s}"] for c in conv for s in ("values", "gradients"))
    lines += [
        "",
        f"Paired over the {cfg['seeds']} seeds (seed s has the same data and initial weights "
        f"at both budgets): of the {len(misses)} misses, {len(misses) - len(real)} change by "
        "10% or more only where the change is within 2 paired standard errors of 0 (not "
        "distinguishable from the seed-to-seed noise of the optimisation path), and "
        f"{len(real)} change by 10% or more by more than 2 paired standard errors"
        + (": " + "; ".join(name(c) for c in real) + "." if real else "."),
        f"The seed-to-seed standard error of a reported mean is itself {_median(rel_sem):.0%} "
        f"of the mean (median over cells and both metrics; range {rel_sem[0]:.0%} to "
        f"{rel_sem[-1]:.0%}): where it exceeds 5%, a 10% change is within the table's own "
        "resolution.",
        "",
        "Columns per metric: change of the mean ± its paired standard error (s.e. of the "
        "per-seed differences / mean); mean ± s.e. over seeds of log(MSE at 2x / MSE at 1x); "
        "s.e. of the reported mean / mean. *Within 2 s.e.*: |mean log ratio| <= 2 s.e. for "
        "both metrics.",
        "",
        "| function | n | method | values: change | values: log ratio | values: s.e./mean "
        "| gradients: change | gradients: log ratio | gradients: s.e./mean | < 10% "
        "| within 2 s.e. |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in conv:
        cols = []
        for s in ("values", "gradients"):
            cols += [
                _pct_pm(c[f"rel_change_{s}"], c[f"rel_change_paired_se_{s}"]),
                f"{c[f'log_ratio_mean_{s}']:+.3f} ± {c[f'log_ratio_sem_{s}']:.3f}",
                _pct(c[f"rel_sem_{s}"]),
            ]
        lines.append(
            f"| {c['function']} | {c['n_train']} | {c['method']} | "
            + " | ".join(cols)
            + f" | {'yes' if c['converged'] else 'no'} | {'yes' if c['within_2se'] else 'no'} |"
        )
    return lines


def _pct(x: float) -> str:
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))
