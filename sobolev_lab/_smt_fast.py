"""Vectorised stand-ins for SMT's Python-loop derivative helpers (kriging gradients).

SMT 2.15 computes the cross-distance derivatives behind ``predict_derivatives`` with
``for i, j in np.ndindex(D.shape)`` loops (jitted only when numba is installed, which
the project does not require). With 10,000 test points they took about half of a
regression-protocol cell's time at d = 4. The functions here compute the same
expressions with array operations, and :func:`fast_kriging_derivatives` swaps them in
for the duration of a block. ``tests/lab/test_smt_fast.py`` checks them against SMT's
own loops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

__all__ = ["comp_dist_derivative", "componentwise_distance_pls", "fast_kriging_derivatives"]


def comp_dist_derivative(D: np.ndarray, power: float) -> np.ndarray:
    """``sign(D) |D|^(power - 1)`` with sign(0) = +1, as SMT's ``_comp_dist_derivative``."""
    mag = np.abs(D) ** (power - 1)
    return np.where(D < 0, -mag, mag)


def componentwise_distance_pls(original):
    """SMT's ``componentwise_distance_PLS`` with its derivative branch vectorised."""

    def distance(D, corr, n_comp, coeff_pls, power=2.0, theta=None, return_derivative=False):
        if not return_derivative or theta is None:
            return original(D, corr, n_comp, coeff_pls, power, theta, return_derivative)
        theta = np.asarray(theta, dtype=float).ravel()[:n_comp]
        c = np.asarray(coeff_pls, dtype=float)[:, :n_comp]
        if corr == "squar_exp":
            return D * (2.0 * (c**2 @ theta))[None, :]
        if corr == "pow_exp":
            # SMT's loop applies no sign here (its ``der`` stays all ones); kept as is.
            return (power * (np.abs(c) ** power @ theta))[None, :] * np.abs(D) ** (power - 1)
        sign = np.where(D < 0, -1.0, 1.0)
        return (np.abs(c) @ theta)[None, :] * sign

    return distance


@contextlib.contextmanager
def fast_kriging_derivatives() -> Iterator[None]:
    """Within the block, SMT's KRG and KPLS-family derivatives use the functions above."""
    from smt.surrogate_models import kpls
    from smt.surrogate_models.krg_based import distances

    saved = (distances._comp_dist_derivative, kpls.componentwise_distance_PLS)
    distances._comp_dist_derivative = comp_dist_derivative
    kpls.componentwise_distance_PLS = componentwise_distance_pls(saved[1])
    try:
        yield
    finally:
        distances._comp_dist_derivative, kpls.componentwise_distance_PLS = saved
