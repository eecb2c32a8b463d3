"""Theorem 2, numerically: values and derivatives cannot be fitted independently.

Argument used. Let ``h`` be differentiable on [a, b] with ``e0 = |f - h|_inf`` and
``e1 = |g - h'|_inf``. Then

    |int_a^b (g - f')| = |int_a^b (g - h') + (h(b) - h(a)) - (f(b) - f(a))|
                       <= (b - a) e1 + 2 e0 <= (2 + b - a) max(e0, e1),

so for every sub-interval [a, b] of the domain

    max(e0, e1) >= L := sup_{a < b} |int_a^b (g - f')| / (2 + b - a),

a bound that is independent of h and strictly positive as soon as the continuous
``g`` differs from ``f'`` anywhere. :func:`coupling_lower_bound` evaluates ``L``;
:func:`minimax_fit` computes, for polynomial families of growing degree, the best
achievable ``max(e0, e1)`` by linear programming (values and derivatives constrained
on a grid; the errors are then re-measured on a grid 16 times finer). With ``g = f'``
the optimum tends to 0; with ``g != f'`` it stays above ``L``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.polynomial import chebyshev
from scipy.optimize import linprog

Fn = Callable[[np.ndarray], np.ndarray]


def coupling_lower_bound(
    fprime: Fn, g: Fn, a: float, b: float, n: int = 1201
) -> tuple[float, float, float]:
    """``L = sup_{s < t} |int_s^t (g - f')| / (2 + t - s)`` over sub-intervals of [a, b].

    Parameters
    ----------
    fprime, g : callable
        Vectorised numpy functions (m,) -> (m,).
    a, b : float
    n : int
        Grid points; the integral is a cumulative composite Simpson/trapezoid sum.

    Returns
    -------
    bound : float
    s, t : float
        The maximising sub-interval.
    """
    if not a < b:
        raise ValueError(f"need a < b; got a={a}, b={b}")
    x = np.linspace(a, b, n)
    r = np.asarray(g(x), float) - np.asarray(fprime(x), float)
    cumulative = np.concatenate([[0.0], np.cumsum((r[1:] + r[:-1]) / 2 * np.diff(x))])
    ratio = np.abs(cumulative[None, :] - cumulative[:, None]) / (2 + x[None, :] - x[:, None])
    ratio = np.triu(ratio, k=1)
    i, j = np.unravel_index(np.argmax(ratio), ratio.shape)
    return float(ratio[i, j]), float(x[i]), float(x[j])


def minimax_fit(
    f: Fn, g: Fn, a: float, b: float, degree: int, n_grid: int = 400
) -> dict[str, float]:
    """Polynomial h of ``degree`` minimising ``max(|f - h|_inf, |g - h'|_inf)`` on a grid.

    Returns
    -------
    dict
        ``degree``, ``lp_value`` (optimum on the LP grid), ``value_error`` and
        ``derivative_error`` (re-measured on a 16x finer grid), ``max_error``.
    """
    if degree < 0:
        raise ValueError(f"degree must be >= 0; got {degree}")
    x = np.linspace(a, b, n_grid)
    u = (2 * x - a - b) / (b - a)  # Chebyshev variable on [-1, 1]
    basis = chebyshev.chebvander(u, degree)  # (n, degree+1)
    dbasis = np.stack(
        [chebyshev.chebval(u, chebyshev.chebder(np.eye(degree + 1)[j])) for j in range(degree + 1)],
        axis=1,
    ) * (2 / (b - a))
    fx, gx = np.asarray(f(x), float), np.asarray(g(x), float)
    ones = np.ones((n_grid, 1))
    # variables (c, t): minimise t s.t. +-(f - B c) <= t and +-(g - dB c) <= t
    a_ub = np.vstack(
        [
            np.hstack([-basis, -ones]),
            np.hstack([basis, -ones]),
            np.hstack([-dbasis, -ones]),
            np.hstack([dbasis, -ones]),
        ]
    )
    b_ub = np.concatenate([-fx, fx, -gx, gx])
    cost = np.zeros(degree + 2)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * (degree + 2))
    if not res.success:
        raise RuntimeError(f"linear program failed: {res.message}")
    coeffs = res.x[:-1]
    fine = np.linspace(a, b, 16 * n_grid)
    uf = (2 * fine - a - b) / (b - a)
    h = chebyshev.chebval(uf, coeffs)
    dh = chebyshev.chebval(uf, chebyshev.chebder(coeffs)) * (2 / (b - a))
    e0 = float(np.max(np.abs(np.asarray(f(fine)) - h)))
    e1 = float(np.max(np.abs(np.asarray(g(fine)) - dh)))
    return {
        "degree": int(degree),
        "lp_value": float(res.x[-1]),
        "value_error": e0,
        "derivative_error": e1,
        "max_error": max(e0, e1),
    }


def coupling_demo(degrees=(1, 3, 5, 9, 13, 17)) -> dict:
    """The default illustration on [0, 1]: ``f = sin(2 pi x)``, ``g = f' + 4 bump``.

    ``bump`` is the hat function of height 1 on [0.25, 0.75] (continuous, so ``g`` is
    continuous and differs from ``f'`` on an interval).

    Returns
    -------
    dict
        ``bound`` (L) with its interval, and ``inconsistent`` / ``consistent`` lists of
        :func:`minimax_fit` rows for ``g`` and for ``g = f'``.
    """
    a, b = 0.0, 1.0

    def f(x):
        return np.sin(2 * np.pi * x)

    def fprime(x):
        return 2 * np.pi * np.cos(2 * np.pi * x)

    def g(x):
        return fprime(x) + 4 * np.maximum(0.0, 1 - np.abs(x - 0.5) / 0.25)

    bound, s, t = coupling_lower_bound(fprime, g, a, b)
    return {
        "bound": bound,
        "interval": (s, t),
        "inconsistent": [minimax_fit(f, g, a, b, q) for q in degrees],
        "consistent": [minimax_fit(f, fprime, a, b, q) for q in degrees],
    }
