"""Point sets and weights on boxes: Gauss-Legendre, scrambled Sobol, dense grids."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import roots_legendre
from scipy.stats import qmc

from sobolev_lab.theory.domain import Box


def gauss_legendre(box: Box, n_per_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Legendre rule on ``box``.

    Exact for polynomials of degree ``<= 2 n_per_dim - 1`` in each variable.

    Returns
    -------
    points : numpy.ndarray, shape (n_per_dim**d, d)
    weights : numpy.ndarray, shape (n_per_dim**d,)
        Positive; they sum to the box volume.
    """
    if n_per_dim < 1:
        raise ValueError(f"n_per_dim must be >= 1; got {n_per_dim}")
    nodes, weights = _legendre(int(n_per_dim))
    half = (box.upper - box.lower) / 2
    axes = [box.lower[i] + half[i] * (nodes + 1) for i in range(box.dim)]
    axis_weights = [half[i] * weights for i in range(box.dim)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, box.dim)
    w = np.ones(1)
    for aw in axis_weights:
        w = np.multiply.outer(w, aw).ravel()
    return points, w


def sobol(box: Box, log2_n: int, seed: int | np.random.Generator | None) -> np.ndarray:
    """``2**log2_n`` scrambled Sobol points in ``box``, shape (2**log2_n, d)."""
    unit = qmc.Sobol(d=box.dim, scramble=True, seed=seed).random_base2(log2_n)
    return box.lower + (box.upper - box.lower) * unit


def grid(box: Box, n_per_dim: int) -> np.ndarray:
    """Uniform tensor grid including the faces, shape (n_per_dim**d, d)."""
    axes = [np.linspace(a, b, n_per_dim) for a, b in zip(box.lower, box.upper, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, box.dim)


def corners(box: Box) -> np.ndarray:
    """The 2**d vertices of ``box``, shape (2**d, d)."""
    bits = (np.arange(2**box.dim)[:, None] >> np.arange(box.dim)) & 1
    return np.where(bits == 1, box.upper, box.lower)


@lru_cache(maxsize=64)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    # scipy's Golub-Welsch/asymptotic roots: O(n), unlike numpy's dense eigensolver.
    nodes, weights = roots_legendre(n)
    nodes.flags.writeable = False
    weights.flags.writeable = False
    return nodes, weights
