"""The :class:`BenchmarkFunction` object returned by :func:`sobolev_lab.theory.functions.get`."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp

from sobolev_lab.theory.domain import Box
from sobolev_lab.theory.functions.catalog import Entry, Minimum, make_symbols
from sobolev_lab.theory.functions.compiled import CompiledFunction


class BenchmarkFunction:
    """A test function ``f: R^d -> R`` with exact, vectorised derivatives.

    Built once from a sympy expression; numpy and torch evaluators are generated with
    ``sympy.lambdify(..., cse=True)`` on first use. Instances pickle as ``(name, dim)``
    and are rebuilt (and recompiled) in the receiving process.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"styblinski_tang"``.
    title : str
        Human-readable name.
    dim : int
        Input dimension d.
    expr : sympy.Expr
        The function in the real symbols ``symbols``.
    symbols : tuple of sympy.Symbol, length d
    domain : Box
        Standard evaluation box; ``domain.lower`` and ``domain.upper`` have shape (d,).
    minimum : Minimum or None
        Global minimum value and all known minimisers (shape (m, d)).
    smooth : bool
        False when the function has a non-differentiable set (Ackley, Bukin N.6).
    paper : bool
        True for the seven functions of the Sobolev Training paper.

    Notes
    -----
    At kinks, gradients and Hessians follow the convention of
    :mod:`sobolev_lab.theory.functions.compiled`: each non-smooth summand contributes 0 (the
    minimum-norm subgradient for Lipschitz kinks), never NaN. The torch callables use
    the same convention under autograd, to second order.
    """

    def __init__(self, entry: Entry, dim: int):
        self._entry = entry
        self.name = entry.name
        self.title = entry.title
        self.dim = dim
        self.paper = entry.paper
        self.symbols = make_symbols(dim)
        self._definition = entry.build(self.symbols)
        self.expr: sp.Expr = self._definition.expr
        self.domain = Box(self._definition.lower, self._definition.upper)
        self.minimum: Minimum | None = self._definition.minimum
        self.smooth = not self._definition.kink_terms

    def __reduce__(self):
        from sobolev_lab.theory.functions.registry import get

        return (get, (self.name, self.dim))

    def __repr__(self) -> str:
        return f"BenchmarkFunction(name={self.name!r}, dim={self.dim})"

    @cached_property
    def _compiled(self) -> CompiledFunction:
        return CompiledFunction(self._definition, self.symbols)

    # --- numpy ------------------------------------------------------------------------

    def value(self, x) -> np.ndarray:
        """Values at points ``x`` of shape (N, d) (or (d,)); returns (N,) (or ())."""
        return self._numpy(x, 0)

    def grad(self, x) -> np.ndarray:
        """Gradients at ``x`` of shape (N, d) (or (d,)); returns (N, d) (or (d,))."""
        return self._numpy(x, 1)

    def hessian(self, x) -> np.ndarray:
        """Symmetric Hessians at ``x`` of shape (N, d) (or (d,)); returns (N, d, d)."""
        return self._numpy(x, 2)

    def _numpy(self, x, order: int) -> np.ndarray:
        points, single = self._check_numpy(x)
        out = self._compiled.evaluate(points, order, "numpy")
        _refuse_nan(out, self.name, order)
        return out[0] if single else out

    def _check_numpy(self, x) -> tuple[np.ndarray, bool]:
        points = np.asarray(x, dtype=np.float64)
        single = points.ndim == 1
        if single:
            points = points[None, :]
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise ValueError(
                f"x must have shape (N, {self.dim}) or ({self.dim},) for {self.name} "
                f"in dimension {self.dim}; got shape {np.shape(x)}"
            )
        if not np.all(np.isfinite(points)):
            raise ValueError(f"x must be finite; got NaN or inf in the input of {self.name}")
        return points, single

    # --- torch --------------------------------------------------------------------------

    def torch_value(self, x):
        """Values of a tensor ``x`` of shape (N, d); returns (N,), differentiable.

        Autograd through it reproduces :meth:`grad` and :meth:`hessian`, kinks included.
        The dtype and device of ``x`` are kept (use float64 for reference accuracy).
        """
        return self._torch(x, 0)

    def torch_grad(self, x):
        """Gradients (N, d) of a tensor ``x`` of shape (N, d); differentiable."""
        return self._torch(x, 1)

    def torch_hessian(self, x):
        """Hessians (N, d, d) of a tensor ``x`` of shape (N, d); differentiable."""
        return self._torch(x, 2)

    def _torch(self, x, order: int):
        import torch

        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor; got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"x must have shape (N, {self.dim}) for {self.name}; got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            x = x.to(torch.float64)
        out = self._compiled.evaluate(x, order, "torch")
        if torch.isnan(out).any():
            raise FloatingPointError(f"{self.name}: NaN in order-{order} derivative")
        return out

    # --- kinks and sampling ---------------------------------------------------------------

    def distance_to_kink(self, x) -> np.ndarray:
        """Euclidean distance (N,) from points (N, d) to the non-differentiable set.

        ``inf`` everywhere for smooth functions.
        """
        points, single = self._check_numpy(x)
        if self._definition.kink_distance is None:
            dist = np.full(points.shape[0], np.inf)
        else:
            dist = self._definition.kink_distance(points)
        return dist[0] if single else dist

    def sample(
        self,
        n: int,
        seed: int | None = None,
        margin: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Uniform points in :attr:`domain`, at least ``margin`` away from any kink.

        Parameters
        ----------
        n : int
            Number of points, ``n >= 0``.
        seed : int, optional
            Seed of a fresh ``numpy.random.default_rng``; ignored when ``rng`` is given.
        margin : float
            Minimum Euclidean distance to the kink set (rejection sampling; the result
            is uniform on the domain minus the margin tube). Ignored for smooth
            functions.
        rng : numpy.random.Generator, optional

        Returns
        -------
        numpy.ndarray, shape (n, d), float64
        """
        if int(n) != n or n < 0:
            raise ValueError(f"n must be a non-negative integer; got {n!r}")
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0; got {margin!r}")
        n = int(n)
        rng = np.random.default_rng(seed) if rng is None else rng
        lower, upper = self.domain
        if margin == 0 or self.smooth:
            return lower + (upper - lower) * rng.random((n, self.dim))
        kept: list[np.ndarray] = []
        count, drawn = 0, 0
        while count < n:
            batch = lower + (upper - lower) * rng.random((max(2 * (n - count), 64), self.dim))
            batch = batch[self.distance_to_kink(batch) >= margin]
            kept.append(batch)
            count += batch.shape[0]
            drawn += 1
            if drawn > 1000 and count < n:
                raise ValueError(
                    f"margin={margin} leaves almost no room in the domain of {self.name}"
                )
        return np.concatenate(kept)[:n]


def _refuse_nan(out: np.ndarray, name: str, order: int) -> None:
    # The kink convention should make NaN impossible; fail loudly if it ever appears.
    if np.isnan(out).any():
        raise FloatingPointError(f"{name}: NaN in order-{order} derivative")
