"""Power-law curves ``error ~ C x^(-a)``: fits with confidence intervals, crossings.

The one log-log slope fit of the project is
:func:`sobolev_lab.theory.constructions.fitted_rate` (the theory package must not import
the lab, so data flows theory -> lab): :func:`fit_power_law` takes its slope from there
and adds the intercept, the OLS covariance and Student-t intervals. The fit pools all
(seed, x) pairs; with nested training sets the seeds' residuals at neighbouring ``x``
are correlated, so the intervals are indicative (somewhat narrow), not exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sobolev_lab.theory.constructions import fitted_rate

__all__ = ["PowerLawFit", "crossing_point", "fit_power_law", "samples_to_reach"]


@dataclass(frozen=True)
class PowerLawFit:
    """``error ~ prefactor * x**(-exponent)`` fitted in log-log space.

    Attributes
    ----------
    exponent : float
        The rate ``a`` (positive when the error falls with ``x``).
    exponent_ci : (float, float)
        Confidence interval of ``a`` at level ``level``.
    prefactor : float
        ``C``.
    prefactor_ci : (float, float)
    level : float
        Confidence level, e.g. 0.95.
    n_obs : int
        Number of (x, error) pairs used.
    r2 : float
        Coefficient of determination in log-log space.
    x_range : (float, float)
        Smallest and largest ``x`` used.
    cov : list of list of float
        OLS covariance of ``(log C, a)``, shape (2, 2); used for derived intervals.
    """

    exponent: float
    exponent_ci: tuple[float, float]
    prefactor: float
    prefactor_ci: tuple[float, float]
    level: float
    n_obs: int
    r2: float
    x_range: tuple[float, float]
    cov: list[list[float]]

    def predict(self, x: Any) -> np.ndarray:
        """Fitted error at ``x`` (any shape)."""
        return self.prefactor * np.asarray(x, dtype=np.float64) ** (-self.exponent)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all attributes."""
        out = asdict(self)
        out["exponent_ci"] = list(self.exponent_ci)
        out["prefactor_ci"] = list(self.prefactor_ci)
        out["x_range"] = list(self.x_range)
        return out


def _t_quantile(level: float, dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else math.inf


def fit_power_law(x: Any, error: Any, *, level: float = 0.95) -> PowerLawFit:
    """Fit ``error ~ C x^(-a)`` by least squares on logarithms.

    Parameters
    ----------
    x : array, shape (K,)
        Positive abscissae (widths, sample sizes).
    error : array, shape (K,) or (S, K)
        Positive errors; rows are repetitions (seeds) at the same ``x``.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    PowerLawFit

    Raises
    ------
    ValueError
        Non-positive or non-finite entries, mismatched shapes, fewer than three
        observations or fewer than two distinct ``x``.
    """
    xs = np.asarray(x, dtype=np.float64)
    err = np.asarray(error, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError(f"x must be 1-D (K,), got shape {xs.shape}")
    if err.ndim == 1:
        err = err[None]
    if err.ndim != 2 or err.shape[1] != xs.shape[0]:
        raise ValueError(f"error must have shape (K,) or (S, K) with K={xs.size}, got {err.shape}")
    if not (0 < level < 1):
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if not (np.all(np.isfinite(xs)) and np.all(xs > 0)):
        raise ValueError("x must be positive and finite")
    if not (np.all(np.isfinite(err)) and np.all(err > 0)):
        raise ValueError("error must be positive and finite (log-log fit)")
    x_all = np.broadcast_to(xs, err.shape).ravel()
    if x_all.size < 3 or np.unique(xs).size < 2:
        raise ValueError("a power-law fit needs >= 3 observations at >= 2 distinct x")
    u, v = np.log(x_all), np.log(err.ravel())
    a = -fitted_rate(x_all, err.ravel())
    log_c = float(v.mean() + a * u.mean())
    design = np.column_stack([np.ones_like(u), -u])  # v = log C - a log x
    resid = v - design @ np.array([log_c, a])
    dof = u.size - 2
    sigma2 = float(resid @ resid) / dof if dof > 0 else 0.0
    cov = sigma2 * np.linalg.inv(design.T @ design)
    t = _t_quantile(level, dof)
    se_c, se_a = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    ss_tot = float(((v - v.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return PowerLawFit(
        exponent=a,
        exponent_ci=(a - t * se_a, a + t * se_a),
        prefactor=math.exp(log_c),
        prefactor_ci=(math.exp(log_c - t * se_c), math.exp(log_c + t * se_c)),
        level=level,
        n_obs=int(u.size),
        r2=r2,
        x_range=(float(xs.min()), float(xs.max())),
        cov=cov.tolist(),
    )


def _exp_or_none(v: float) -> float | None:
    """``exp(v)``, or None where it overflows a float."""
    return math.exp(v) if v < math.log(np.finfo(np.float64).max) else None


def samples_to_reach(fit: PowerLawFit, target: float) -> dict[str, Any]:
    """``x`` at which the fitted curve reaches ``target``, with a delta-method interval.

    ``log x* = (log C - log target) / a``; its variance follows from the OLS
    covariance of ``(log C, a)``.

    Parameters
    ----------
    fit : PowerLawFit
    target : float
        Positive error level.

    Returns
    -------
    dict
        ``value``, ``ci`` ([lo, hi]), ``extrapolated`` (outside the fitted x range)
        and ``valid`` (False if the exponent is not positive or the crossing lies
        beyond the float range, then the other entries are None); an interval end
        beyond the float range is None.
    """
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ValueError(f"target must be a positive finite error, got {target!r}")
    if fit.exponent <= 0:
        return {"value": None, "ci": None, "extrapolated": None, "valid": False}
    log_c, a = math.log(fit.prefactor), fit.exponent
    log_x = (log_c - math.log(target)) / a
    grad = np.array([1.0 / a, -log_x / a])  # d log x* / d(log C, a)
    se = math.sqrt(max(float(grad @ np.asarray(fit.cov) @ grad), 0.0))
    t = _t_quantile(fit.level, max(fit.n_obs - 2, 1))
    value = _exp_or_none(log_x)
    if value is None:
        # A nearly flat curve reaches the target only at astronomically large x.
        return {"value": None, "ci": None, "extrapolated": None, "valid": False}
    lo, hi = fit.x_range
    return {
        "value": value,
        "ci": [_exp_or_none(log_x - t * se), _exp_or_none(log_x + t * se)],
        "extrapolated": not (lo <= value <= hi),
        "valid": True,
    }


def crossing_point(x: Any, error: Any, target: float) -> float | None:
    """First ``x`` where a measured curve falls to ``target`` (log-log interpolation).

    Parameters
    ----------
    x : array, shape (K,), increasing
    error : array, shape (K,)
        E.g. the geometric mean over seeds.
    target : float

    Returns
    -------
    float or None
        None when the curve never reaches ``target``; ``x[0]`` if it starts below.
    """
    xs = np.asarray(x, dtype=np.float64)
    err = np.asarray(error, dtype=np.float64)
    if xs.shape != err.shape or xs.ndim != 1:
        raise ValueError(f"x and error must be 1-D of equal length, got {xs.shape}, {err.shape}")
    below = np.nonzero(err <= target)[0]
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(xs[0])
    lx0, lx1 = math.log(xs[i - 1]), math.log(xs[i])
    le0, le1 = math.log(err[i - 1]), math.log(err[i])
    frac = (math.log(target) - le0) / (le1 - le0)
    return float(math.exp(lx0 + frac * (lx1 - lx0)))
