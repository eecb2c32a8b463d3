"""Pieces shared by the summaries and tables of the approx studies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sobolev_lab.curves import fit_power_law
from sobolev_lab.stats import paired_verdicts
from sobolev_lab.tables import fmt, markdown_table, verdict_table

__all__ = [
    "curve_arrays",
    "curve_verdicts",
    "fit_or_none",
    "geo_mean",
    "rates_markdown",
    "verdicts_markdown",
]


def fit_or_none(x: Sequence[float], err: Any) -> dict[str, Any] | None:
    """:func:`sobolev_lab.curves.fit_power_law` as a dict, or None without enough data.

    ``err`` has shape (K,) or (S, K); a curve with a non-positive or non-finite error,
    fewer than two ``x`` or fewer than three observations has no fit.
    """
    err = np.asarray(err, dtype=np.float64)
    if len(x) < 2 or np.any(~np.isfinite(err)) or np.any(err <= 0) or err.size < 3:
        return None
    return fit_power_law(x, err).to_dict()


def geo_mean(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Geometric mean over seeds of errors of shape (S, K); returns shape (K,)."""
    return np.exp(np.mean(np.log(np.asarray(rows, dtype=np.float64)), axis=0))


def curve_arrays(
    by_x: dict[Any, dict[int, dict[str, Any]]],
    xs: Sequence[Any],
    seeds: Sequence[int],
    metrics: Sequence[str],
    diagnostics: Sequence[str] = ("train_loss", "grad_norm", "converged"),
) -> dict[str, Any]:
    """A curve's (S x K) arrays from member rows ``by_x[x][seed]``.

    Returns ``errors`` (relative, ``metric + "_rel"``) and ``errors_abs`` per metric,
    and one (S x K) list per diagnostic key of the rows.
    """
    out: dict[str, Any] = {"errors": {}, "errors_abs": {}}
    for m in metrics:
        out["errors"][m] = [[by_x[x][s][m + "_rel"] for x in xs] for s in seeds]
        out["errors_abs"][m] = [[by_x[x][s][m] for x in xs] for s in seeds]
    for k in diagnostics:
        out[k] = [[by_x[x][s][k] for x in xs] for s in seeds]
    return out


def rates_markdown(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    """Markdown table of fitted rates: ``keys`` columns, then rate [CI], first and last error."""
    body = []
    for r in rows:
        ci = r.get("rate_ci")
        rate = "-" if r["rate"] is None else f"{r['rate']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
        body.append(
            [*(r[k] for k in keys), rate, fmt(r.get("first_error")), fmt(r.get("last_error"))]
        )
    return markdown_table([*keys, "rate [95% CI]", "first error", "last error"], body)


def curve_verdicts(
    curves: Sequence[dict[str, Any]],
    group: Sequence[str],
    x_key: str,
    x_name: str,
    baseline: str,
    metrics: Sequence[str],
    claim: str,
) -> list[dict[str, Any]]:
    """Paired verdicts of every method against ``baseline`` at each shared ``x``.

    Parameters
    ----------
    curves : sequence of dict
        Each with the ``group`` keys, ``method``, ``seeds`` (S,), ``x_key`` (K,) and
        ``errors[metric]`` of shape (S, K).
    group : sequence of str
        The keys that, with ``x``, name a table cell (e.g. function, dim, activation).
    x_key, x_name : str
        The curve's abscissa list (``"widths"``, ``"n"``) and its name in the cell.
    baseline : str
        The method every other method of the same group is compared with.
    metrics : sequence of str
    claim : str
        Format string with ``{method}``, ``{metric}`` and ``{baseline}``.

    Returns
    -------
    list of dict
        :func:`sobolev_lab.stats.paired_verdicts` over the seeds both curves share,
        Holm-corrected across the whole list.
    """
    by_key = {(tuple(c[k] for k in group), c["method"]): c for c in curves}
    comparisons = []
    for (g, method), c in by_key.items():
        base = by_key.get((g, baseline))
        if method == baseline or base is None:
            continue
        seeds = [s for s in c["seeds"] if s in base["seeds"]]
        for k, x in enumerate(c[x_key]):
            if x not in base[x_key]:
                continue
            kb = base[x_key].index(x)
            for m in metrics:
                comparisons.append(
                    {
                        "claim": claim.format(method=method, metric=m, baseline=baseline),
                        "cell": {**dict(zip(group, g, strict=True)), x_name: x},
                        "metric": m,
                        "baseline": baseline,
                        "method": method,
                        "baseline_errors": [
                            base["errors"][m][base["seeds"].index(s)][kb] for s in seeds
                        ],
                        "method_errors": [c["errors"][m][c["seeds"].index(s)][k] for s in seeds],
                    }
                )
    return paired_verdicts(comparisons)


def verdicts_markdown(summary: dict[str, Any], baseline: str, where: str) -> str:
    """The verdict table and the convergence line of a result's Markdown.

    ``where`` says what the paired cells hold equal, e.g. ``"at equal n"``.
    """
    md = f"\nPaired comparisons against {baseline} {where} (ratio {baseline} / method of the "
    md += "per-seed relative errors; Holm across the table):\n\n"
    md += verdict_table(summary["verdicts"])
    conv = summary["convergence"]
    return md + f"\nTrainings: {conv['trainings']}; convergence: {conv['criterion']}.\n"
