"""Gradient estimates from scattered samples, for Sobolev training without derivative data.

When only values ``y_i = f(x_i)`` are known, Kissel & Diepold (2019) estimate the
gradient at each training point from its nearest neighbours and train on those
estimates. At ``x_i`` with neighbours ``x_j`` (j in the k nearest) the local linear
model ``y_j - y_i ~ g . (x_j - x_i)`` is fitted by least squares:

.. math::
    g_i = \\arg\\min_g \\sum_{j \\in \\mathcal{N}_k(i)} (y_j - y_i - g^\\top (x_j - x_i))^2 ,

which is exact for affine ``f`` and has error O(h) for smooth ``f`` (h the neighbour
radius, from the curvature ignored by the linear model) plus the noise of ``y``
amplified by ``1/h``.

Example
-------
>>> import numpy as np
>>> from sobolev.estimate import estimate_gradients
>>> x = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
>>> g = estimate_gradients(x, 3.0 * x[:, 0] - x[:, 1] + 2.0)
>>> bool(np.allclose(g, [3.0, -1.0]))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["default_n_neighbors", "estimate_gradients"]


def default_n_neighbors(n_samples: int, n_features: int) -> int:
    """The neighbour count used when none is given: ``min(2 d + 1, N - 1)``.

    ``d`` neighbours determine ``g`` exactly; the extra ``d + 1`` average out some of
    the curvature and noise while keeping the neighbourhood local.

    Parameters
    ----------
    n_samples : int
        N, the number of samples.
    n_features : int
        d, the input dimension.

    Returns
    -------
    int
    """
    return max(1, min(2 * n_features + 1, n_samples - 1))


def estimate_gradients(X: Any, y: Any, n_neighbors: int | None = None) -> np.ndarray:
    """Estimate input gradients at each sample by local least squares on its neighbours.

    Parameters
    ----------
    X : array-like, shape (N, d)
        Sample locations. Neighbours are found by Euclidean distance in these
        coordinates: standardise features with different units first.
    y : array-like, shape (N,) or (N, m)
        Values at the samples.
    n_neighbors : int, optional
        Number k of neighbours per point (the point itself excluded), at most N - 1.
        Defaults to :func:`default_n_neighbors` ``(N, d)``. With k < d, or neighbours
        that span fewer than d directions, the system is underdetermined and the
        minimum-norm solution is returned (the gradient projected on the span of the
        neighbour offsets).

    Returns
    -------
    numpy.ndarray, float64
        Shape (N, d) when ``y`` is (N,), (N, m, d) when ``y`` is (N, m).

    Raises
    ------
    ValueError
        If ``X`` is not a finite 2-D numeric array with at least 2 samples, ``y`` does
        not hold one finite value (row) per sample, or ``n_neighbors`` is not an
        integer in [1, N - 1].

    Notes
    -----
    Duplicate points contribute zero offsets and so carry no information; a point
    whose neighbours all coincide with it gets a zero gradient.
    """
    X = _as_float_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, d), got shape {X.shape}")
    n, d = X.shape
    if n < 2 or d < 1:
        raise ValueError(
            f"X must hold at least 2 samples and 1 feature to estimate gradients from "
            f"neighbours, got shape {X.shape} ({n} sample(s))"
        )
    _check_finite(X, "X")
    y = _as_float_array(y, "y")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"y must have shape (N,) or (N, m) with N = {n} as in X, got shape {y.shape}"
        )
    _check_finite(y, "y")
    if n_neighbors is None:
        k = default_n_neighbors(n, d)
    else:
        if (
            isinstance(n_neighbors, bool)
            or not isinstance(n_neighbors, int | np.integer)
            or not 1 <= n_neighbors <= n - 1
        ):
            raise ValueError(
                f"n_neighbors must be an integer in [1, N - 1] = [1, {n - 1}], got {n_neighbors!r}"
            )
        k = int(n_neighbors)

    Y = y[:, None] if y.ndim == 1 else y
    neighbours = _nearest_neighbours(X, k)  # (N, k)
    dX = X[neighbours] - X[:, None, :]  # (N, k, d)
    dY = Y[neighbours] - Y[:, None, :]  # (N, k, m)
    # Batched minimum-norm least squares: g_i = pinv(dX_i) dY_i, (N, d, m).
    # The rcond cut keeps rank-deficient neighbourhoods (duplicates, collinear points)
    # from blowing up through tiny singular values.
    G = np.linalg.pinv(dX, rcond=1e-10) @ dY
    G = np.swapaxes(G, 1, 2)  # (N, m, d)
    return G[:, 0, :] if y.ndim == 1 else G


def _nearest_neighbours(X: np.ndarray, k: int) -> np.ndarray:
    """Indices (N, k) of each point's k nearest other points.

    Queries k + 1 points and removes the point itself; with duplicates the query may
    return another copy first, so the point is removed by index, not by position.
    """
    n = X.shape[0]
    # scipy is optional for the library (the `sklearn` extra); only this estimator needs it.
    try:
        from scipy.spatial import cKDTree
    except ImportError as exc:
        raise ImportError(
            'estimate_gradients needs scipy: pip install "sobolev-training[sklearn]"'
        ) from exc
    _, idx = cKDTree(X).query(X, k=k + 1)
    idx = np.asarray(idx).reshape(n, k + 1)
    is_self = idx == np.arange(n)[:, None]
    # Rows where the point itself was not returned (ties with duplicates) drop the last.
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    return idx[~is_self].reshape(n, k)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "toarray") or hasattr(value, "tocsr"):
        raise ValueError(f"{name} must be a dense array, got sparse {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ValueError(f"{name} must be array-like, got {type(value).__name__}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or inf value(s); expected finite numbers")
