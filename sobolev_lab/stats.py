"""Statistics shared by every study: means with standard errors and paired verdicts.

A comparison of two methods is paired over seeds: seed ``s`` gives both methods the
same data and initial weights, so the per-seed log ratio
``r_s = log(error_baseline_s / error_method_s)`` removes the seed-to-seed spread the
two share. The reported ``ratio`` is ``exp(mean r)`` (a geometric mean of
baseline / method: above 1 the method has the lower error), its interval the t interval
of ``mean r`` mapped through ``exp``. A table of comparisons is corrected for
multiplicity with Holm's step-down procedure; a comparison is a ``win`` or ``loss``
only when its 95% interval excludes 1 *and* its Holm-adjusted p-value is below 0.05,
and a ``tie`` otherwise (always with fewer than two seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["VERDICT_KEYS", "holm", "mean_sem", "paired_log_ratio", "paired_verdicts"]

#: The keys of one entry of a result's ``verdicts`` list (the Study contract's schema).
VERDICT_KEYS = (
    "claim",
    "cell",
    "metric",
    "baseline",
    "method",
    "n_seeds",
    "ratio",
    "ci95",
    "verdict",
)


def mean_sem(values: Any, axis: int = 0, *, single: float | None = 0.0):
    """Mean and standard error of the mean (``ddof=1``) over ``axis``.

    Parameters
    ----------
    values : array-like, shape (S,) or (S, ...) along ``axis``
        Per-seed (or per-episode) numbers.
    axis : int
        The axis of the repeats.
    single : float or None
        The standard error reported for a single value, which has no spread to
        estimate: 0.0 (default) or None.

    Returns
    -------
    mean, sem : float (1-D input) or ndarray
    """
    a = np.asarray(values, dtype=np.float64)
    n = a.shape[axis]
    mean = a.mean(axis)
    if n > 1:
        sem = a.std(axis, ddof=1) / math.sqrt(n)
    else:
        sem = None if single is None else np.full_like(mean, single)
    if a.ndim == 1:
        return float(mean), None if sem is None else float(sem)
    return mean, sem


def paired_log_ratio(
    baseline: Sequence[float], method: Sequence[float], *, level: float = 0.95
) -> dict[str, Any]:
    """Geometric-mean ratio ``baseline / method`` over paired seeds, with a t interval.

    Parameters
    ----------
    baseline, method : sequence of float, shape (S,)
        Positive errors per seed, aligned (seed ``s`` of both used the same data).
    level : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``n_seeds`` (finite positive pairs used), ``n_dropped`` (pairs with a
        non-finite or non-positive error, which have no log ratio), ``ratio``,
        ``ci`` ([lo, hi], None with fewer than two pairs) and ``p_value`` (two-sided
        one-sample t test of the log ratios against 0; None with fewer than two pairs).
    """
    from scipy import stats

    b = np.asarray(baseline, dtype=np.float64)
    m = np.asarray(method, dtype=np.float64)
    if b.shape != m.shape or b.ndim != 1:
        raise ValueError(
            f"baseline and method must be 1-D and aligned by seed, got shapes {b.shape} "
            f"and {m.shape}"
        )
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    ok = np.isfinite(b) & np.isfinite(m) & (b > 0) & (m > 0)
    r = np.log(b[ok] / m[ok])
    n = int(r.size)
    out: dict[str, Any] = {"n_seeds": n, "n_dropped": int(b.size - n)}
    if n == 0:
        return {**out, "ratio": None, "ci": None, "p_value": None}
    mean = float(r.mean())
    out["ratio"] = math.exp(mean)
    if n < 2:
        return {**out, "ci": None, "p_value": None}
    se = float(r.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return {**out, "ci": [out["ratio"], out["ratio"]], "p_value": 0.0 if mean else 1.0}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {**out, "ci": [math.exp(mean - half), math.exp(mean + half)], "p_value": p}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None entries are skipped and stay None).

    ``p_(i)`` sorted ascending over the ``k`` given values becomes
    ``max_{j <= i} min(1, (k - j + 1) p_(j))``.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])
    k = len(order)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


def paired_verdicts(
    comparisons: Sequence[dict[str, Any]], *, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """Verdicts for one table of paired comparisons, Holm-corrected across the table.

    Parameters
    ----------
    comparisons : sequence of dict
        Each with ``claim``, ``cell`` (dict or str naming the table cell), ``metric``,
        ``baseline``, ``method`` (names) and ``baseline_errors``, ``method_errors``
        (per-seed errors, lower is better): sequences aligned by seed, or mappings
        seed -> error, which are paired on the seeds both hold.
    alpha : float
        Family-wise error rate of the table.

    Returns
    -------
    list of dict
        One entry per comparison with the keys :data:`VERDICT_KEYS` plus
        ``p_value``, ``p_holm`` and ``n_dropped``; ``verdict`` is ``"win"`` (the method
        has the lower error), ``"loss"`` or ``"tie"``.
    """
    stats_ = [paired_log_ratio(*_paired(c), level=1 - alpha) for c in comparisons]
    adjusted = holm([s["p_value"] for s in stats_])
    out = []
    for c, s, p_adj in zip(comparisons, stats_, adjusted, strict=True):
        verdict = "tie"
        if s["ci"] is not None and p_adj is not None and p_adj < alpha:
            lo, hi = s["ci"]
            verdict = "win" if lo > 1.0 else "loss" if hi < 1.0 else "tie"
        out.append(
            {
                **{k: c[k] for k in ("claim", "cell", "metric", "baseline", "method")},
                "n_seeds": s["n_seeds"],
                "n_dropped": s["n_dropped"],
                "ratio": s["ratio"],
                "ci95": s["ci"] if s["ci"] is not None else [None, None],
                "p_value": s["p_value"],
                "p_holm": p_adj,
                "verdict": verdict,
            }
        )
    return out


def _paired(comparison: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The two error lists of a comparison, aligned by seed."""
    b, m = comparison["baseline_errors"], comparison["method_errors"]
    if isinstance(b, Mapping) and isinstance(m, Mapping):
        seeds = sorted(b.keys() & m.keys())
        return [b[s] for s in seeds], [m[s] for s in seeds]
    if isinstance(b, Mapping) or isinstance(m, Mapping):
        raise ValueError("baseline_errors and method_errors must both be sequences or mappings")
    return list(b), list(m)
