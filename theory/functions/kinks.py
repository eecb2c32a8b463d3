"""Euclidean distances to the non-differentiable sets of the catalog functions."""

from __future__ import annotations

import numpy as np


def distance_to_origin(x: np.ndarray) -> np.ndarray:
    """Distance to the origin (Ackley's only kink).

    Parameters
    ----------
    x : numpy.ndarray, shape (N, d)

    Returns
    -------
    numpy.ndarray, shape (N,)
    """
    return np.linalg.norm(x, axis=1)


def distance_to_parabola(x: np.ndarray, c: float) -> np.ndarray:
    """Distance from points to the whole parabola ``{(t, c t^2) : t real}``.

    The closest parameter solves ``2 c^2 t^3 + (1 - 2 c b) t - a = 0`` for the point
    ``(a, b)``; all three roots come from batched companion-matrix eigenvalues and
    the nearest curve point among them is kept. A complex root's real part is still a
    point of the curve, so it can only over-estimate and never wins over the real
    minimiser.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, 2)
    c : float
        Curvature coefficient, non-zero.

    Returns
    -------
    numpy.ndarray, shape (N,)
    """
    a, b = x[:, 0], x[:, 1]
    lead = 2.0 * c * c
    p = (1.0 - 2.0 * c * b) / lead
    q = -a / lead
    companion = np.zeros((x.shape[0], 3, 3))
    companion[:, 1, 0] = 1.0
    companion[:, 2, 1] = 1.0
    companion[:, 0, 2] = -q
    companion[:, 1, 2] = -p
    t = np.linalg.eigvals(companion).real  # (N, 3)
    # One Newton step on the stationarity cubic polishes the eigenvalue round-off.
    cubic = t**3 + p[:, None] * t + q[:, None]
    slope = 3 * t**2 + p[:, None]
    safe = np.abs(slope) > 0
    t = np.where(safe, t - cubic / np.where(safe, slope, 1.0), t)
    dist = np.hypot(t - a[:, None], c * t**2 - b[:, None])
    return dist.min(axis=1)


def bukin_n6_distance(x: np.ndarray) -> np.ndarray:
    """Distance to Bukin N.6's kink set: the ridge ``x2 = x1^2/100`` and ``x1 = -10``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, 2)

    Returns
    -------
    numpy.ndarray, shape (N,)
    """
    return np.minimum(distance_to_parabola(x, 0.01), np.abs(x[:, 0] + 10.0))
