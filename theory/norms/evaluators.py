"""Turn the objects a norm may be asked about into derivative tables on point sets.

A *derivative table* of order ``k`` at points ``x`` (N, d) is the list
``[D^0 f (N,), D^1 f (N, d), D^2 f (N, d, d)][: k + 1]`` in float64 numpy.

Supported inputs
----------------
* sympy expression: exact derivatives, lambdified (``symbols`` fixes the variable
  order; by default the free symbols sorted by name).
* object with ``value``/``grad``/``hessian`` methods taking numpy (N, d), e.g. a
  :class:`sobolev_lab.theory.functions.BenchmarkFunction`.
* ``torch.nn.Module`` or torch callable mapping (N, d) -> (N,) or (N, 1): derivatives
  by reverse-mode autodiff over the whole batch in float64. Modules are deep-copied,
  cast to float64 and put in eval mode (the caller's model is untouched). The batch-sum
  trick needs rows to be independent (no BatchNorm in training mode).
* numpy callable (N, d) -> (N,): values only (``k = 0``).

Models with several outputs are refused: take the output you want first
(``lambda x: model(x)[:, j]``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import sympy as sp

Table = list[np.ndarray]
Evaluator = Callable[[np.ndarray, int], Table]

_CHUNK = 16384


def natural_symbols(expr: sp.Expr) -> tuple[sp.Symbol, ...]:
    """Free symbols of ``expr`` in natural order (``x2`` before ``x10``)."""

    def key(s):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s.name)]

    return tuple(sorted(expr.free_symbols, key=key))


def make_evaluator(f, dim: int, symbols=None) -> Evaluator:
    """Return ``evaluate(x, k) -> derivative table`` for any supported ``f``."""
    if isinstance(f, sp.Expr | int | float) and not isinstance(f, bool):
        return _sympy_evaluator(sp.sympify(f), dim, symbols)
    if all(hasattr(f, m) for m in ("value", "grad", "hessian")):
        return _method_evaluator(f, dim)
    if callable(f):
        return _callable_evaluator(f, dim)
    raise ValueError(
        "f must be a sympy expression, an object with value/grad/hessian, a torch "
        f"module or a callable; got {type(f).__name__}"
    )


def resolve_symbols(expr: sp.Expr, dim: int, symbols=None) -> tuple[sp.Symbol, ...]:
    """The d symbols of ``expr`` in argument order; checks them against ``dim``."""
    if symbols is None:
        symbols = natural_symbols(expr)
        if len(symbols) != dim:
            raise ValueError(
                f"the expression has free symbols {symbols} but the domain has dimension "
                f"{dim}; pass symbols=(...) with {dim} symbols in coordinate order"
            )
    symbols = tuple(symbols)
    if len(symbols) != dim:
        raise ValueError(f"symbols must have {dim} entries (the domain's dimension)")
    extra = expr.free_symbols - set(symbols)
    if extra:
        raise ValueError(f"the expression has symbols {extra} not listed in symbols")
    return symbols


def _sympy_evaluator(expr: sp.Expr, dim: int, symbols) -> Evaluator:
    symbols = resolve_symbols(expr, dim, symbols)
    shapes = [(), (dim,), (dim, dim)]

    def evaluate(x: np.ndarray, k: int) -> Table:
        n = x.shape[0]
        columns = [x[:, i] for i in range(dim)]
        compiled = [_compiled_derivative(expr, symbols, order) for order in range(k + 1)]
        # 0/0 at a kink of the expression gives NaN; the caller reports it explicitly.
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = [fn(*columns) for fn in compiled]
        return [
            np.stack(
                [np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in raw[order]],
                axis=-1,
            ).reshape((n, *shapes[order]))
            for order in range(k + 1)
        ]

    return evaluate


@lru_cache(maxsize=256)
def _compiled_derivative(expr: sp.Expr, symbols: tuple, order: int):
    """Lambdified list of all order-``order`` partials (row-major for the Hessian)."""
    if order == 0:
        exprs = [expr]
    elif order == 1:
        exprs = [sp.diff(expr, s) for s in symbols]
    else:
        exprs = [sp.diff(expr, a, b) for a in symbols for b in symbols]
    return sp.lambdify(symbols, exprs, modules="numpy", cse=True)


def _method_evaluator(f, dim: int) -> Evaluator:
    if getattr(f, "dim", dim) != dim:
        raise ValueError(f"{f!r} has dimension {f.dim} but the domain has dimension {dim}")

    def evaluate(x: np.ndarray, k: int) -> Table:
        methods = (f.value, f.grad, f.hessian)[: k + 1]
        return [np.asarray(m(x), dtype=np.float64) for m in methods]

    return evaluate


def _callable_evaluator(f, dim: int) -> Evaluator:
    import torch

    device = torch.device("cpu")
    if isinstance(f, torch.nn.Module):
        f = copy.deepcopy(f).to(torch.float64).eval()
        device = next((p.device for p in f.parameters()), device)

    def evaluate(x: np.ndarray, k: int) -> Table:
        parts = [
            _torch_table(f, x[i : i + _CHUNK], k, device) for i in range(0, x.shape[0], _CHUNK)
        ]
        return [np.concatenate([p[o] for p in parts]) for o in range(k + 1)]

    return evaluate


def _scalar_output(y, n: int):
    import torch

    if isinstance(y, torch.Tensor) and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if not (hasattr(y, "shape") and tuple(y.shape) == (n,)):
        shape = tuple(getattr(y, "shape", ()))
        raise ValueError(
            f"f must map (N, d) points to (N,) or (N, 1) values; got output shape {shape}. "
            "For a model with several outputs, pass lambda x: model(x)[:, j]."
        )
    return y


def _torch_table(f, x_np: np.ndarray, k: int, device) -> Table:
    import torch

    n, d = x_np.shape
    x = torch.from_numpy(np.ascontiguousarray(x_np)).to(device).requires_grad_(True)
    with torch.enable_grad():
        try:
            y = f(x)
        except (TypeError, RuntimeError) as exc:
            y, error = None, exc
        if not isinstance(y, torch.Tensor):
            # Not a torch function: only values can be had from a numpy callable.
            if k > 0:
                raise ValueError(
                    "f is not a torch callable, so its derivatives are unavailable; pass a "
                    "torch function/module, a sympy expression or an object with grad/hessian"
                ) from (error if y is None else None)
            return [np.asarray(_scalar_output(np.asarray(f(x_np)), n), dtype=np.float64)]
        y = _scalar_output(y, n).to(torch.float64)
        table = [y.detach().cpu().numpy().copy()]
        if k == 0:
            return table
        grad = _grad_or_zero(y.sum(), x, create_graph=k >= 2)
        table.append(grad.detach().cpu().numpy().copy())
        if k >= 2:
            rows = [_grad_or_zero(grad[:, i].sum(), x, retain_graph=True) for i in range(d)]
            hess = torch.stack(rows, dim=1)
            # Mixed partials from reverse mode agree only to round-off; symmetrise.
            table.append((0.5 * (hess + hess.transpose(1, 2))).detach().cpu().numpy().copy())
    return table


def _grad_or_zero(out, x, create_graph: bool = False, retain_graph: bool = False):
    import torch

    if not out.requires_grad:  # e.g. the gradient of an affine model
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        out,
        x,
        create_graph=create_graph,
        retain_graph=retain_graph or create_graph,
        allow_unused=True,
    )
    return torch.zeros_like(x) if g is None else g
