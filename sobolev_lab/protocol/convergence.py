"""Convergence of one training, judged on its held-out curve, and the study-level record.

A training counts as converged when its best held-out loss improved by less than
``rel`` (1%) over the last ``fraction`` (a quarter) of its budget. Unlike "doubling
the budget changes the test error by < 10%", this needs no second training and
separates a plateau (converged, whatever the noise) from a curve still going down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CRITERION", "converged", "convergence_record"]

#: The criterion text stored in a result's ``convergence`` entry.
CRITERION = (
    "best held-out loss improved by less than 1% over the last quarter of the training budget"
)


def converged(
    val_curve: Any,
    steps: Any,
    fraction: float = 0.25,
    rel: float = 0.01,
    *,
    budget: int | None = None,
) -> bool:
    """Whether the best held-out loss improved by less than ``rel`` over the budget's tail.

    Parameters
    ----------
    val_curve : array-like, shape (n_evals,)
        Held-out loss at each evaluation (history key ``val`` of one member).
    steps : array-like, shape (n_evals,)
        The step of each evaluation (history key ``val_step``), increasing.
    fraction : float
        The tail of the budget examined, in (0, 1).
    rel : float
        Relative improvement of the best loss below which the training has converged.
    budget : int, optional
        The step budget; defaults to the last evaluated step. Pass it for trainings
        stopped early: a stop before ``(1 - fraction) * budget`` means no evaluation in
        the tail improved the best, which counts as converged.

    Returns
    -------
    bool
        ``(best_before - best_end) < rel * |best_before|`` where ``best_before`` is the
        best loss at or before step ``(1 - fraction) * budget`` and ``best_end`` the best
        overall. Non-finite losses count as +inf: a curve that diverged before the tail
        and recovered has not converged; one whose every loss is non-finite neither.

    Raises
    ------
    ValueError
        On mismatched shapes, or when no evaluation lies at or before the tail's start
        (evaluate more often).
    """
    v = np.asarray(val_curve, dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    if v.ndim != 1 or v.shape != s.shape or v.size < 1:
        raise ValueError(
            f"val_curve and steps must be 1-D of one length, got shapes {v.shape} and {s.shape}"
        )
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if not (math.isfinite(rel) and rel >= 0):
        raise ValueError(f"rel must be a finite number >= 0, got {rel!r}")
    end = float(s[-1]) if budget is None else float(budget)
    if end < s[-1]:
        raise ValueError(f"budget {budget} is below the last evaluated step {s[-1]:g}")
    start = (1.0 - fraction) * end
    before = s <= start
    if not before.any():
        raise ValueError(
            f"no evaluation at or before step {start:g} (the start of the last {fraction:g} "
            f"of the budget); the first is at step {s[0]:g}: evaluate more often"
        )
    v = np.where(np.isfinite(v), v, np.inf)
    best_before, best_end = float(v[before].min()), float(v.min())
    if not math.isfinite(best_end):
        return False
    if not math.isfinite(best_before):
        return False
    return bool(best_before - best_end < rel * abs(best_before) or best_before == best_end)


def converged_members(
    history: Mapping[str, Any], budget: int, fraction: float = 0.25, rel: float = 0.01
) -> list[bool]:
    """:func:`converged` for every member of an early-stopped ``fit_ensemble`` history.

    After a member runs out of patience its later held-out values are either those of
    further training (``compact=False``) or repeats of its last value (``compact=True``),
    and its best state is restored at the end, so its held-out curve is judged only up
    to its ``stopped_step``.

    Parameters
    ----------
    history : mapping
        With ``val_step`` (n_evals,), ``val`` (n_evals, E) and ``stopped_step`` (E,).
    budget : int
        The ``steps`` the ensemble was given.

    Returns
    -------
    list of bool, length E
    """
    missing = [k for k in ("val_step", "val", "stopped_step") if k not in history]
    if missing:
        raise ValueError(f"history lacks {missing}: train with validation=(x_val, y_val)")
    steps = np.asarray(history["val_step"])
    val = np.asarray(history["val"], dtype=np.float64)
    stopped = np.asarray(history["stopped_step"]).reshape(-1)
    if val.ndim != 2 or val.shape != (steps.size, stopped.size):
        raise ValueError(
            f"val must have shape (n_evals, E) = ({steps.size}, {stopped.size}), got {val.shape}"
        )
    out = []
    for e, stop in enumerate(stopped):
        keep = steps <= stop
        out.append(converged(val[keep, e], steps[keep], fraction, rel, budget=budget))
    return out


def convergence_record(flags: Sequence[bool | None], criterion: str = CRITERION) -> dict[str, Any]:
    """The Study contract's ``convergence`` entry from one flag per training.

    Parameters
    ----------
    flags : sequence of bool or None
        Whether each training converged; None for a training that was not judged. Any
        None makes ``converged`` None (unknown), never a silent undercount.
    criterion : str
        How convergence was judged.

    Returns
    -------
    dict
        ``{"trainings": int, "converged": int or None, "criterion": str}``.
    """
    flags = list(flags)
    for i, f in enumerate(flags):
        if f is not None and not isinstance(f, bool | np.bool_):
            raise ValueError(f"flags[{i}] must be a bool or None, got {f!r}")
    if not isinstance(criterion, str) or not criterion.strip():
        raise ValueError(f"criterion must be a non-empty string, got {criterion!r}")
    known = None if any(f is None for f in flags) else sum(bool(f) for f in flags)
    return {"trainings": len(flags), "converged": known, "criterion": criterion}
