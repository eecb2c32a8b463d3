"""Aggregation of the regression study: from per-seed cell payloads to its summary.

Everything here is computed from the per-seed numbers of the cells, so
``sobolev report regression`` rebuilds a stored result without retraining.

- :func:`summary_rows`: mean and standard error over seeds per (function, size,
  budget, method), and the ratio regular / method.
- :func:`convergence_rows`: the change of each mean test MSE when the budget doubles,
  with paired statistics over seeds (:func:`paired_stats`: seed ``s`` has the same data
  and initial weights at both budgets).
- :func:`method_comparisons`: per-seed paired comparison of each method with regular
  training (clear win / clear loss at 2 standard errors, no multiplicity correction).
- :func:`verdicts`: the contract's Holm-corrected paired verdicts
  (:func:`sobolev_lab.stats.paired_verdicts`) over the whole table.
- :func:`summarise`: all of the above, the contract's ``convergence`` entry, the stored
  grids for figures and the method notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sobolev_lab.stats import mean_sem, paired_verdicts

__all__ = [
    "KINKS",
    "NORMALISATION",
    "convergence_rows",
    "method_comparisons",
    "paired_stats",
    "summarise",
    "summary_rows",
    "verdicts",
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

#: A doubled budget that changes a mean test MSE by less than this counts as converged.
TOLERANCE = 0.1

NORMALISATION = (
    "inputs u = (x - c) / r with c, r the centre and half-widths of the domain; values "
    "v = (y - mean) / std with the mean and std of each seed's training values; "
    "derivatives dv/du = (r / std) dy/dx; identical for every method; unit weights on "
    "the value and gradient terms in these units; test metrics in original units"
)

KINKS = (
    "non-smooth functions (registry flag smooth=False; here Ackley at the origin in every "
    "dimension and Bukin N.6 on the ridge x2 = x1^2/100 and on x1 = -10): training and test "
    "points uniform on the whole domain (no margin, as in the paper); targets follow the "
    "theory.functions convention (a non-smooth summand contributes 0 to the gradient at the "
    "kink, never NaN); *_away metrics repeat the test MSEs on the test points at least "
    "kink_margin x (domain diagonal) from the kink set"
)

SHORTS = (("values", "test_mse_values"), ("gradients", "test_mse_gradients"))


def label(cell: dict[str, Any]) -> str:
    """``name`` for a 2-D function, ``name:d`` otherwise (the config's spelling)."""
    return cell["function"] if cell["dim"] is None else f"{cell['function']}:{cell['dim']}"


def row_key(cell: dict[str, Any], method: str) -> dict[str, Any]:
    """The leading columns of a table row: function, dim, n_train, method."""
    return {
        "function": label(cell),
        "dim": cell["dim"] or 2,
        "n_train": cell["n_train"],
        "method": method,
    }


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
                "function": label(cell),
                "dim": cell["dim"] or 2,
                "n_train": cell["n_train"],
                "method": method,
                "steps": cell["steps"],
                "n_seeds": len(cell["seeds"]),
            }
            for m in METRICS:
                if m in res:
                    row[f"{m}_mean"], row[f"{m}_sem"] = mean_sem(res[m])
            for short, m in SHORTS:
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
    rows: list[dict[str, Any]], steps: int, cells: Sequence[dict], payloads: Sequence[dict]
) -> list[dict[str, Any]]:
    """How each mean test MSE changes when the budget doubles (rows updated in place).

    Parameters
    ----------
    rows : list of dict
        :func:`summary_rows` of the cells at ``steps`` and at ``2 * steps``.
    steps : int
        The reported budget.
    cells, payloads : sequence of dict
        The cells and their per-seed payloads.

    Returns
    -------
    list of dict
        One entry per (function, n, method) present at both budgets:
        ``rel_change_values``, ``rel_change_gradients``, ``converged`` (both below
        10% in magnitude), the :func:`paired_stats` as ``<stat>_<short>`` and
        ``within_2se`` (both metrics within 2 paired standard errors of no change).
        The rows at ``steps`` receive the same numbers as ``<stat>_<short>_2x``.
    """
    key = {(r["function"], r["n_train"], r["method"], r["steps"]): r for r in rows}
    per_seed = {}
    for c, p in zip(cells, payloads, strict=True):
        for method, res in p["methods"].items():
            per_seed[(label(c), c["n_train"], method, c["steps"])] = res
    out = []
    for r in rows:
        if r["steps"] != steps:
            continue
        ident = (r["function"], r["n_train"], r["method"])
        r2 = key.get((*ident, 2 * steps))
        if r2 is None:
            continue
        entry = dict(zip(("function", "n_train", "method"), ident, strict=True))
        for short, _ in SHORTS:
            a, b = r[f"test_mse_{short}_mean"], r2[f"test_mse_{short}_mean"]
            entry[f"rel_change_{short}"] = r[f"rel_change_{short}_2x"] = (b - a) / a
        entry["converged"] = all(abs(entry[f"rel_change_{s}"]) < TOLERANCE for s, _ in SHORTS)
        first, second = per_seed[(*ident, steps)], per_seed[(*ident, 2 * steps)]
        for short, metric in SHORTS:
            stats = paired_stats(first[metric], second[metric])
            for name in PAIRED_STATS:
                entry[f"{name}_{short}"] = r[f"{name}_{short}_2x"] = stats[name]
        entry["within_2se"] = entry["within_2se_values"] and entry["within_2se_gradients"]
        out.append(entry)
    return out


def real_misses(entry: dict[str, Any]) -> list[str]:
    """Metrics of a convergence entry that change by >= 10% and by > 2 paired s.e."""
    return [
        s
        for s, _ in SHORTS
        if abs(entry[f"rel_change_{s}"]) >= TOLERANCE and not entry[f"within_2se_{s}"]
    ]


def _reported(cells: Sequence[dict], payloads: Sequence[dict], steps: int):
    return [
        (c, p)
        for c, p in zip(cells, payloads, strict=True)
        if c["steps"] == steps and "regular" in p["methods"]
    ]


def method_comparisons(
    cells: Sequence[dict], payloads: Sequence[dict], steps: int
) -> list[dict[str, Any]]:
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
    out = []
    for cell, pay in _reported(cells, payloads, steps):
        res = pay["methods"]
        for method, r in res.items():
            if method == "regular":
                continue
            entry: dict[str, Any] = row_key(cell, method)
            for short, metric in SHORTS:
                reg = np.asarray(res["regular"][metric], dtype=np.float64)
                other = np.asarray(r[metric], dtype=np.float64)
                mean, sem = mean_sem(np.log(reg / other))
                entry[f"ratio_{short}"] = float(reg.mean() / other.mean())
                entry[f"log_gain_{short}_mean"], entry[f"log_gain_{short}_sem"] = mean, sem
                entry[f"clear_{short}"] = int(mean > 2 * sem) - int(mean < -2 * sem)
            out.append(entry)
    return out


def verdicts(cells: Sequence[dict], payloads: Sequence[dict], steps: int) -> list[dict]:
    """Paired verdicts of every method against regular training, Holm across the table.

    One comparison per (function, n_train, method other than regular, metric in
    values / gradients) at the reported budget, on the per-seed test MSEs.
    """
    comparisons = []
    for cell, pay in _reported(cells, payloads, steps):
        res = pay["methods"]
        for method in (m for m in res if m != "regular"):
            for short, metric in SHORTS:
                comparisons.append(
                    {
                        "claim": f"{method} has a lower test MSE of {short} than regular",
                        "cell": {"function": label(cell), "n_train": cell["n_train"]},
                        "metric": metric,
                        "baseline": "regular",
                        "method": method,
                        "baseline_errors": res["regular"][metric],
                        "method_errors": res[method][metric],
                    }
                )
    return paired_verdicts(comparisons)


def _convergence(config, n_reported: int, conv: list[dict[str, Any]]) -> dict[str, Any]:
    """The contract's ``{trainings, converged, criterion}`` entry."""
    trainings = n_reported * len(config.methods) * config.seeds
    if not config.convergence_check:
        return {
            "trainings": trainings,
            "converged": None,
            "criterion": "not checked: this run has convergence_check false, so no "
            "doubled-budget training ran",
        }
    ok = sum(config.seeds for c in conv if not real_misses(c))
    return {
        "trainings": trainings,
        "converged": ok,
        "criterion": f"every training of a (function, n, method) cell counts as converged "
        f"when, retrained with {2 * config.steps} instead of {config.steps} steps (same seeds), "
        "each of its mean test MSEs of values and gradients changes by less than 10% or the "
        "change is within 2 paired standard errors (|mean per-seed log ratio| <= 2 s.e.)",
    }


def summarise(config, cells: list[dict], payloads: list[dict]) -> dict[str, Any]:
    """The study's summary (the runner stores it in ``result.json``).

    Returns
    -------
    dict
        ``rows`` (:func:`summary_rows`, every budget), ``convergence_rows`` (empty
        without the check), ``comparisons``, ``verdicts``, ``convergence``,
        ``kink_excluded`` (per non-smooth (function, n): the fraction of test points
        left out of the ``*_away`` metrics), ``grids`` (function -> n -> seed-0 fits,
        for figures), ``normalisation`` and ``kinks`` (method notes).
    """
    steps = config.steps
    rows = summary_rows(cells, payloads)
    conv = convergence_rows(rows, steps, cells, payloads) if config.convergence_check else []
    grids: dict[str, dict[str, Any]] = {}
    excluded = []
    for cell, pay in zip(cells, payloads, strict=True):
        if pay.get("grid"):
            grids.setdefault(cell["function"], {})[str(cell["n_train"])] = pay["grid"]
        if pay.get("kink") and cell["steps"] == steps:
            excluded.append(
                {
                    "function": label(cell),
                    "n_train": cell["n_train"],
                    "fraction": pay["kink"]["fraction_excluded_from_away_metrics"],
                }
            )
    n_reported = sum(c["steps"] == steps for c in cells)
    return {
        "rows": rows,
        "convergence_rows": conv,
        "comparisons": method_comparisons(cells, payloads, steps),
        "verdicts": verdicts(cells, payloads, steps),
        "convergence": _convergence(config, n_reported, conv),
        "kink_excluded": excluded,
        "grids": grids,
        "normalisation": NORMALISATION if config.normalise else "none",
        "kinks": KINKS,
    }
