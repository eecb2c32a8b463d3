"""Axis-aligned boxes, the integration domains used throughout :mod:`theory`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """A box ``prod_i [lower_i, upper_i]``; unpacks as ``lower, upper = box``.

    Attributes
    ----------
    lower, upper : numpy.ndarray, shape (d,)
        float64 bounds with ``lower < upper`` componentwise.
    """

    lower: np.ndarray
    upper: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.lower.shape[0])

    @property
    def volume(self) -> float:
        return float(np.prod(self.upper - self.lower))

    @property
    def pairs(self) -> list[tuple[float, float]]:
        """The box as a list of ``(lo, hi)`` pairs."""
        return [(float(a), float(b)) for a, b in zip(self.lower, self.upper, strict=True)]

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask, shape (N,), of the rows of ``x`` (N, d) inside the closed box."""
        return np.all((x >= self.lower) & (x <= self.upper), axis=1)


def as_box(domain, dim: int | None = None) -> Box:
    """Parse a domain given as ``(lower, upper)`` arrays or a list of ``(lo, hi)`` pairs.

    Parameters
    ----------
    domain : Box, (lower, upper) numpy arrays of shape (d,), or a sequence of d pairs
        A 1-D interval may be given as ``(lo, hi)`` with scalar ends. A nested list of
        shape (2, 2) is read as two ``(lo, hi)`` pairs; pass numpy arrays (or a
        :class:`Box`) for ``(lower, upper)`` in two dimensions.
    dim : int, optional
        Expected dimension; a mismatch raises ValueError.

    Returns
    -------
    Box
    """
    if isinstance(domain, Box):
        box = domain
    else:
        box = _parse(domain)
    if not (np.all(np.isfinite(box.lower)) and np.all(np.isfinite(box.upper))):
        raise ValueError(f"domain bounds must be finite; got {box.pairs}")
    if np.any(box.lower >= box.upper):
        raise ValueError(f"domain needs lower < upper in every coordinate; got {box.pairs}")
    if dim is not None and box.dim != dim:
        raise ValueError(f"domain has dimension {box.dim}, expected {dim}")
    return box


def _parse(domain) -> Box:
    # (lower, upper) must be two numpy arrays (or a Box); anything else of shape (d, 2)
    # is read as (lo, hi) pairs. This settles the d = 2 ambiguity by type, not by value.
    is_lower_upper = (
        isinstance(domain, tuple | list)
        and len(domain) == 2
        and all(isinstance(b, np.ndarray) for b in domain)
    )
    try:
        arr = np.asarray(domain, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"domain must be (lower, upper) arrays or a list of (lo, hi) pairs; got {domain!r}"
        ) from exc
    if is_lower_upper and arr.ndim == 2:
        lower, upper = arr[0], arr[1]
    elif arr.shape == (2,):
        lower, upper = arr[:1], arr[1:]
    elif arr.ndim == 2 and arr.shape[1] == 2:
        lower, upper = arr[:, 0], arr[:, 1]
    elif arr.ndim == 2 and arr.shape[0] == 2:
        lower, upper = arr[0], arr[1]
    else:
        raise ValueError(
            "domain must be (lower, upper) numpy arrays of shape (d,) or a list of (lo, hi) "
            f"pairs; got an array of shape {arr.shape}"
        )
    return Box(lower.copy(), upper.copy())
