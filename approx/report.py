"""Pieces shared by the summaries and tables of the approx studies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sobolev_lab.curves import fit_power_law
from sobolev_lab.tables import fmt, markdown_table

__all__ = ["convergence_unassessed", "fit_or_none", "geo_mean", "rates_markdown"]


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


def convergence_unassessed(trainings: int) -> dict[str, Any]:
    """The contract's ``convergence`` entry for cells that store only the final loss.

    The convergence rule needs the held-out loss history, which these cells do not keep.
    """
    return {
        "trainings": int(trainings),
        "converged": None,
        "criterion": "not assessed (issue #15 adds it)",
    }


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
