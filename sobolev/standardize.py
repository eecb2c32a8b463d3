"""Standardisation of inputs, values and derivatives, consistent under the chain rule.

With ``u = (x - x_shift) / x_scale`` and ``v = (y - y_shift) / y_scale`` (per input
and per output), the standardised target ``v(u)`` has derivatives

    dv_i/du_j        = x_scale_j / y_scale_i * dy_i/dx_j
    d2v_i/du_j du_k  = x_scale_j x_scale_k / y_scale_i * d2y_i/dx_j dx_k

so a network fitted in standardised units sees the same function, values and
derivatives, as one fitted in the original units, only better conditioned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Standardizer"]


def _mean_and_scale(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations, with scale 1 for constant columns."""
    mean = a.mean(axis=0)
    scale = a.std(axis=0)
    # A column constant up to rounding has no scale to divide by.
    tiny = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(tiny, 1.0, scale)


def _vector(value: Any, name: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite scalar or 1-D array, got {value!r}")
    return a


@dataclass(frozen=True)
class Standardizer:
    """Affine change of units for ``x``, ``y``, ``dy`` and ``d2y`` (module docstring).

    Parameters
    ----------
    x_shift, x_scale : array-like, shape (d,) or scalar
    y_shift, y_scale : array-like, shape (m,) or scalar
        Scales must be positive.

    Notes
    -----
    Shapes follow :class:`sobolev.Target`: ``y`` is (N,) or (N, m), ``dy`` (N, d) or
    (N, m, d), ``d2y`` (N, d, d) or (N, m, d, d). Construct with :meth:`fit` (means
    and standard deviations of data) or :meth:`from_bounds` (a box domain).
    """

    x_shift: np.ndarray
    x_scale: np.ndarray
    y_shift: np.ndarray
    y_scale: np.ndarray

    def __post_init__(self) -> None:
        for name in ("x_shift", "x_scale", "y_shift", "y_scale"):
            object.__setattr__(self, name, _vector(getattr(self, name), name))
        for name in ("x_scale", "y_scale"):
            if np.any(getattr(self, name) <= 0):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.x_shift.shape != self.x_scale.shape and self.x_shift.size != 1:
            raise ValueError("x_shift and x_scale must have the same shape")
        if self.y_shift.shape != self.y_scale.shape and self.y_shift.size != 1:
            raise ValueError("y_shift and y_scale must have the same shape")

    @classmethod
    def fit(cls, x: Any, y: Any) -> Standardizer:
        """Means and standard deviations of ``x`` (N, d) and ``y`` (N,) or (N, m)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"x must have shape (N, d) with N >= 1, got {x.shape}")
        if y.shape[:1] != x.shape[:1] or y.ndim not in (1, 2):
            raise ValueError(f"y must have shape (N,) or (N, m) with N = {len(x)}, got {y.shape}")
        return cls(*_mean_and_scale(x), *_mean_and_scale(y))

    @classmethod
    def from_bounds(cls, lower: Any, upper: Any, y: Any) -> Standardizer:
        """Inputs mapped from the box ``[lower, upper]`` to ``[-1, 1]^d``; ``y`` by mean/std."""
        lo, hi = _vector(lower, "lower"), _vector(upper, "upper")
        if lo.shape != hi.shape or np.any(hi <= lo):
            raise ValueError(f"need lower < upper elementwise, got {lo!r} and {hi!r}")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.shape[0] == 0:
            raise ValueError(f"y must have shape (N,) or (N, m) with N >= 1, got {y.shape}")
        return cls((lo + hi) / 2, (hi - lo) / 2, *_mean_and_scale(y))

    def _ratio(self, ndim_y: int) -> np.ndarray:
        # (d,) for a scalar output, (m, d) for m outputs: x_scale_j / y_scale_i.
        if ndim_y == 1:
            return self.x_scale / self.y_scale[0]
        return self.x_scale[None, :] / self.y_scale[:, None]

    def transform(
        self, x: Any = None, y: Any = None, dy: Any = None, d2y: Any = None
    ) -> tuple[np.ndarray | None, ...]:
        """Original -> standardised units: ``(u, v, dv, d2v)``, None where not given."""
        return self._apply(x, y, dy, d2y, inverse=False)

    def inverse(
        self, u: Any = None, v: Any = None, dv: Any = None, d2v: Any = None
    ) -> tuple[np.ndarray | None, ...]:
        """Standardised units -> original units; returns ``(x, y, dy, d2y)``."""
        return self._apply(u, v, dv, d2v, inverse=True)

    def _apply(self, x, y, dy, d2y, *, inverse: bool):
        out: list[np.ndarray | None] = [None] * 4
        if x is not None:
            x = np.asarray(x, dtype=np.float64)
            out[0] = (
                x * self.x_scale + self.x_shift if inverse else (x - self.x_shift) / self.x_scale
            )
        if y is not None:
            y = np.asarray(y, dtype=np.float64)
            shift, scale = (
                (self.y_shift[0], self.y_scale[0]) if y.ndim == 1 else (self.y_shift, self.y_scale)
            )
            out[1] = y * scale + shift if inverse else (y - shift) / scale
        if dy is not None:
            dy = np.asarray(dy, dtype=np.float64)
            ratio = self._ratio(1 if dy.ndim == 2 else 2)
            out[2] = dy / ratio if inverse else dy * ratio
        if d2y is not None:
            d2y = np.asarray(d2y, dtype=np.float64)
            ratio = self._ratio(1 if d2y.ndim == 3 else 2)[..., None] * self.x_scale
            out[3] = d2y / ratio if inverse else d2y * ratio
        return tuple(out)
