"""Vectorised numpy and torch evaluators generated from the sympy definitions.

Derivative convention at kinks
------------------------------
A :class:`~theory.functions.catalog.KinkTerm` contributes **zero** to the gradient
and to the Hessian at every point where its indicator evaluates to exactly 0 in
floating point. For the Lipschitz kinks in the catalog (Ackley's cone at the origin,
Bukin N.6's ``|x1 + 10|``) zero is the minimum-norm element of the term's Clarke
subdifferential; at Ackley's origin the smooth remainder has zero gradient too, so
the returned gradient is the minimum-norm subgradient of the whole function. Bukin
N.6's ``sqrt|x2 - x1^2/100|`` cusp has unbounded one-sided derivatives (no
subgradient exists); zero is the symmetric choice, the one ``argmin-testfunctions``
makes. Hessians drop the singular (Dirac) part: ``DiracDelta`` is replaced by 0
symbolically, and at kink points the kink term's Hessian is 0. Points off the kink
set get the classical derivatives, however large (Bukin's gradient is about 5e7 at
1e-12 from the ridge).

To keep ``0/0`` from ever being formed (it would poison torch's backward pass even
where masked), kink terms are differentiated at a fixed ``safe_point`` wherever the
mask is set, and the result is then replaced by 0 ("double where").
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import numpy as np
import sympy as sp

from sobolev_lab.theory.functions.catalog import Definition

# Torch functions that sympy's printer may apply to plain Python numbers
# (for example ``sqrt(2)`` after common-subexpression elimination).
_TORCH_LIFTED = ("sqrt", "exp", "log", "sin", "cos", "tan", "sign", "sinh", "cosh", "tanh")


def _torch_namespace() -> dict:
    import torch

    def lift(fn):
        def lifted(*args):
            args = [
                a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=torch.float64)
                for a in args
            ]
            return fn(*args)

        return lifted

    namespace = {"pow": operator.pow}
    namespace.update({name: lift(getattr(torch, name)) for name in _TORCH_LIFTED})
    return namespace


def _drop_dirac(expr: sp.Expr) -> sp.Expr:
    # The Dirac part of a Hessian is the singular measure on the kink set; the
    # pointwise (absolutely continuous) Hessian is what callers can use.
    return expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def _derivative_exprs(expr: sp.Expr, symbols, order: int) -> list[sp.Expr]:
    """Flat list of derivative expressions: [f], [df/dx_i], or upper-triangular d2f."""
    if order == 0:
        return [expr]
    grad = [sp.diff(expr, s) for s in symbols]
    if order == 1:
        return [_drop_dirac(g) for g in grad]
    d = len(symbols)
    return [_drop_dirac(sp.diff(grad[i], symbols[j])) for i in range(d) for j in range(i, d)]


def _lambdify(symbols, exprs, backend: str) -> Callable:
    modules = [_torch_namespace(), "torch"] if backend == "torch" else ["numpy"]
    return sp.lambdify(symbols, exprs, modules=modules, cse=True)


class _Kernel:
    """One lambdified list of expressions evaluated on (N, d) arrays or tensors."""

    def __init__(self, symbols, expr: sp.Expr, order: int, backend: str):
        self.dim = len(symbols)
        self.order = order
        self.backend = backend
        self._fn = _lambdify(symbols, _derivative_exprs(expr, symbols, order), backend)

    def __call__(self, x):
        n = x.shape[0]
        columns = self._fn(*[x[:, i] for i in range(self.dim)])
        if self.backend == "torch":
            import torch

            flat = torch.stack(
                [torch.as_tensor(c, dtype=x.dtype, device=x.device).expand(n) for c in columns],
                dim=-1,
            )
        else:
            # Constant entries (e.g. Booth's Hessian) come back as scalars.
            flat = np.stack(
                [np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns],
                axis=-1,
            )
        return _unflatten(flat, self.order, self.dim, self.backend)


def _unflatten(flat, order: int, dim: int, backend: str):
    if order == 0:
        return flat[:, 0]
    if order == 1:
        return flat
    rows, cols = np.triu_indices(dim)
    n = flat.shape[0]
    if backend == "torch":
        import torch

        hess = flat.new_zeros((n, dim, dim))
        rows_t, cols_t = torch.as_tensor(rows), torch.as_tensor(cols)
        hess[:, rows_t, cols_t] = flat
        hess[:, cols_t, rows_t] = flat
        return hess
    hess = np.empty((n, dim, dim))
    hess[:, rows, cols] = flat
    hess[:, cols, rows] = flat
    return hess


class CompiledFunction:
    """Lazily compiled evaluators of one :class:`Definition` for both backends.

    Parameters
    ----------
    definition : Definition
    symbols : tuple of sympy.Symbol, length d
    """

    def __init__(self, definition: Definition, symbols):
        self.definition = definition
        self.symbols = tuple(symbols)
        self._kernels: dict = {}

    def _kernel(self, key, expr, order: int, backend: str) -> _Kernel:
        full_key = (key, order, backend)
        if full_key not in self._kernels:
            self._kernels[full_key] = _Kernel(self.symbols, expr, order, backend)
        return self._kernels[full_key]

    def evaluate(self, x, order: int, backend: str):
        """Derivative of ``order`` (0, 1, 2) at points ``x`` of shape (N, d).

        Returns shape (N,), (N, d) or (N, d, d) in the backend of ``x``.
        """
        terms = self.definition.kink_terms
        if not terms or (order == 0 and backend == "numpy"):
            # Values are continuous at kinks: no masking needed.
            return self._kernel("full", self.definition.expr, order, backend)(x)
        out = self._kernel("smooth", self.definition.smooth_expr, order, backend)(x)
        for index, term in enumerate(terms):
            kernel = self._kernel(("kink", index), term.expr, order, backend)
            indicator = self._kernel(("indicator", index), term.indicator, 0, backend)
            mask = indicator(x) == 0
            out = out + _masked_term(kernel, x, mask, term.safe_point, order, backend)
        return out


def _masked_term(kernel: _Kernel, x, mask, safe_point, order: int, backend: str):
    if backend == "torch":
        import torch

        safe = torch.as_tensor(safe_point, dtype=x.dtype, device=x.device)
        x_safe = torch.where(mask[:, None], safe, x)
        value = kernel(x_safe)
        expand = mask.reshape((-1,) + (1,) * order)
        if order == 0:
            # At a kink use the true value but let no derivative flow through it:
            # this is what makes autograd follow the zero-contribution convention.
            return torch.where(expand, kernel(x).detach(), value)
        return torch.where(expand, torch.zeros_like(value), value)
    x_safe = np.where(mask[:, None], np.asarray(safe_point), x)
    value = kernel(x_safe)
    expand = mask.reshape((-1,) + (1,) * order)
    if order == 0:
        return np.where(expand, kernel(x), value)
    return np.where(expand, 0.0, value)
