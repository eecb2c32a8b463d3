"""Sobolev norms, seminorms and distances on boxes.

Definition (Adams & Fournier): for k in {0, 1, 2} and p in [1, inf],

    |f|_{W^{k,p}} = ( sum_{|alpha| <= k} |D^alpha f|_{L^p}^p )^(1/p),
    |f|_{W^{k,inf}} = max_{|alpha| <= k} |D^alpha f|_{L^inf},

where alpha runs over multi-indices, so each mixed partial counts once (d(d+1)/2
second-order terms, not d^2). The seminorm keeps only |alpha| = k.

Methods
-------
``"exact"``  symbolic integration (sympy input, even integer p, e.g. polynomials).
``"gauss"``  tensor Gauss-Legendre quadrature; default for d <= 3.
``"qmc"``    scrambled Sobol points in independent replicates; default for d > 3.
             ``NormResult.error`` is one standard error of the mean over replicates,
             propagated to the norm.
``"grid"``   p = inf only: a dense grid (Sobol points for d > 3) plus a local pattern
             search around the largest values. The result is a **lower bound** of the
             supremum (the max over the evaluated points).

All discrete rules have positive weights, so each is itself a (semi)norm on the
sampled derivatives: homogeneity and the triangle inequality hold to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from sobolev_lab.theory.domain import Box, as_box
from sobolev_lab.theory.norms import quadrature
from sobolev_lab.theory.norms.evaluators import Evaluator, make_evaluator, resolve_symbols
from sobolev_lab.theory.norms.exact import exact_power_sum, is_even_integer
from sobolev_lab.theory.norms.multi_index import flatten_table

METHODS = ("auto", "exact", "gauss", "qmc", "grid")
_GAUSS_DEFAULT = {1: 256, 2: 64, 3: 24}


@dataclass(frozen=True)
class NormResult:
    """A Sobolev (semi)norm with its provenance.

    Attributes
    ----------
    value : float
    error : float or None
        Standard error (QMC only); ``None`` for exact, Gauss and grid results.
    method : str
        The method actually used.
    n_points : int
        Number of evaluation points (0 for exact).
    lower_bound : bool
        True for p = inf (the supremum is estimated from below).
    """

    value: float
    error: float | None
    method: str
    n_points: int
    lower_bound: bool


def sobolev_norm(
    f,
    domain=None,
    k: int = 1,
    p: float = 2,
    method: str = "auto",
    *,
    symbols=None,
    n_per_dim: int | None = None,
    log2_n: int = 12,
    replicates: int = 8,
    seed: int = 0,
    full_output: bool = False,
) -> float | NormResult:
    """Sobolev norm ``|f|_{W^{k,p}(domain)}``.

    Parameters
    ----------
    f : sympy.Expr, BenchmarkFunction, torch.nn.Module or callable
        See :mod:`sobolev_lab.theory.norms.evaluators`. A callable maps (N, d) -> (N,) or (N, 1).
    domain : box, optional
        ``(lower, upper)`` numpy arrays of shape (d,), a list of ``(lo, hi)`` pairs or a
        :class:`sobolev_lab.theory.domain.Box`; defaults to ``f.domain`` when ``f`` has one.
    k : {0, 1, 2}
        Highest derivative order.
    p : float
        ``1 <= p <= inf`` (``numpy.inf`` or ``"inf"``).
    method : {"auto", "exact", "gauss", "qmc", "grid"}
        ``"auto"``: exact for polynomial sympy input with even p, grid for p = inf,
        Gauss for d <= 3, QMC above.
    symbols : sequence of sympy.Symbol, optional
        Variable order of a sympy ``f`` (default: free symbols in natural order).
    n_per_dim : int, optional
        Points per dimension for Gauss (default 256/64/24 for d = 1/2/3) and grid.
    log2_n : int
        QMC points per replicate are ``2**log2_n``.
    replicates : int
        Independent Sobol scramblings for the QMC error estimate (>= 2).
    seed : int
        Seeds QMC scrambling and the grid refinement.
    full_output : bool
        Return a :class:`NormResult` instead of a float.

    Returns
    -------
    float or NormResult
    """
    return _dispatch([f], domain, k, p, method, tuple(range(k + 1)), locals())


def sobolev_seminorm(
    f,
    domain=None,
    k: int = 1,
    p: float = 2,
    method: str = "auto",
    *,
    symbols=None,
    n_per_dim: int | None = None,
    log2_n: int = 12,
    replicates: int = 8,
    seed: int = 0,
    full_output: bool = False,
) -> float | NormResult:
    """Sobolev seminorm: only the multi-indices with ``|alpha| = k``.

    Same parameters as :func:`sobolev_norm`.
    """
    return _dispatch([f], domain, k, p, method, (k,), locals())


def sobolev_distance(
    f,
    g,
    domain=None,
    k: int = 1,
    p: float = 2,
    method: str = "auto",
    *,
    symbols=None,
    n_per_dim: int | None = None,
    log2_n: int = 12,
    replicates: int = 8,
    seed: int = 0,
    full_output: bool = False,
) -> float | NormResult:
    """``|f - g|_{W^{k,p}(domain)}``, derivatives of both taken at the same points.

    ``f`` and ``g`` may be of different kinds (e.g. a torch model and a registry
    function). ``domain`` defaults to the domain of ``g`` (or ``f``) when it has one.
    Other parameters as in :func:`sobolev_norm`.
    """
    return _dispatch([f, g], domain, k, p, method, tuple(range(k + 1)), locals())


# --- implementation ------------------------------------------------------------------------


def _check_k_p(k, p) -> float:
    if isinstance(k, bool) or k not in (0, 1, 2):
        raise ValueError(f"k must be 0, 1 or 2; got {k!r}")
    if isinstance(p, str):
        if p.lower() != "inf":
            raise ValueError(f"p must be a number >= 1 or 'inf'; got {p!r}")
        return float("inf")
    p = float(p)
    if not p >= 1:
        raise ValueError(f"p must satisfy 1 <= p <= inf; got {p!r}")
    return p


def _resolve_domain(fs, domain) -> Box:
    if domain is None:
        for f in reversed(fs):
            if hasattr(f, "domain"):
                return as_box(f.domain)
        raise ValueError("domain is required unless f (or g) has a .domain")
    return as_box(domain)


def _dispatch(fs, domain, k, p, method, orders, options) -> float | NormResult:
    p = _check_k_p(k, p)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    box = _resolve_domain(fs, domain)
    symbols = options["symbols"]
    all_sympy = all(isinstance(f, sp.Expr) for f in fs)
    if method == "auto":
        method = _auto_method(fs, box, p, symbols, all_sympy)
    if p == float("inf") and method != "grid":
        raise ValueError(f"p = inf needs method='grid' (or 'auto'); got method={method!r}")
    if method == "grid" and p != float("inf"):
        raise ValueError("method='grid' is only for p = inf")
    if method == "exact":
        if not all_sympy:
            raise ValueError("method='exact' needs sympy expressions")
        result = _exact(fs, box, p, orders, symbols)
    else:
        evaluators = [make_evaluator(f, box.dim, symbols) for f in fs]
        evaluate = _difference(evaluators)
        if method == "grid":
            result = _sup_norm(evaluate, box, orders, options)
        else:
            result = _integral_norm(evaluate, box, p, orders, method, options)
    return result if options["full_output"] else result.value


def _auto_method(fs, box: Box, p: float, symbols, all_sympy: bool) -> str:
    if p == float("inf"):
        return "grid"
    if all_sympy and is_even_integer(p):
        expr = fs[0] - fs[1] if len(fs) == 2 else fs[0]
        syms = resolve_symbols(expr, box.dim, symbols) if expr.free_symbols else ()
        if expr.is_polynomial(*syms):
            return "exact"
    return "gauss" if box.dim <= 3 else "qmc"


def _exact(fs, box: Box, p: float, orders, symbols) -> NormResult:
    expr = fs[0] - fs[1] if len(fs) == 2 else fs[0]
    syms = resolve_symbols(expr, box.dim, symbols)
    total = exact_power_sum(expr, syms, box, orders, p)
    value = float(sp.N(total ** sp.Rational(1, int(p)), 20))
    return NormResult(value, None, "exact", 0, False)


def _difference(evaluators: list[Evaluator]) -> Evaluator:
    if len(evaluators) == 1:
        return evaluators[0]
    first, second = evaluators

    def evaluate(x, k):
        return [a - b for a, b in zip(first(x, k), second(x, k), strict=True)]

    return evaluate


def _columns(evaluate: Evaluator, x: np.ndarray, orders) -> np.ndarray:
    cols = flatten_table(evaluate(x, max(orders)), orders)
    if np.isnan(cols).any():
        raise FloatingPointError(
            "a derivative evaluated to NaN inside the domain (a kink?); the norm is undefined "
            "there. Move the domain or use a function with a derivative convention."
        )
    return cols


def _integral_norm(evaluate, box: Box, p: float, orders, method: str, options) -> NormResult:
    if method == "gauss":
        n = options["n_per_dim"] or _GAUSS_DEFAULT.get(box.dim, max(2, int(30000 ** (1 / box.dim))))
        points, weights = quadrature.gauss_legendre(box, n)
        total = float(weights @ np.sum(np.abs(_columns(evaluate, points, orders)) ** p, axis=1))
        return NormResult(total ** (1 / p), None, "gauss", len(weights), False)
    replicates = int(options["replicates"])
    if replicates < 2:
        raise ValueError(f"replicates must be >= 2 for an error estimate; got {replicates}")
    seeds = np.random.SeedSequence(options["seed"]).spawn(replicates)
    estimates = []
    for s in seeds:
        points = quadrature.sobol(box, int(options["log2_n"]), np.random.default_rng(s))
        power = np.sum(np.abs(_columns(evaluate, points, orders)) ** p, axis=1)
        estimates.append(box.volume * float(power.mean()))
    mean = float(np.mean(estimates))
    stderr = float(np.std(estimates, ddof=1) / np.sqrt(replicates))
    value = mean ** (1 / p)
    # delta-method: d(I^(1/p)) = (1/p) I^(1/p - 1) dI
    error = value / (p * mean) * stderr if mean > 0 else stderr ** (1 / p)
    return NormResult(value, error, "qmc", replicates * 2 ** int(options["log2_n"]), False)


def _sup_norm(evaluate, box: Box, orders, options, top: int = 8, rounds: int = 12) -> NormResult:
    d = box.dim
    rng = np.random.default_rng(options["seed"])
    if d <= 3:
        n = options["n_per_dim"] or {1: 4097, 2: 257, 3: 41}[d]
        points = quadrature.grid(box, n)
        spacing = (box.upper - box.lower) / (n - 1)
    else:
        points = np.vstack([quadrature.sobol(box, 14, rng), quadrature.corners(box)])
        spacing = (box.upper - box.lower) / len(points) ** (1 / d)
    values = np.abs(_columns(evaluate, points, orders))  # (N, m)
    best = values.max(axis=0)
    # Local pattern search from the `top` largest points of each column: the sup of
    # a smooth function is rarely on a grid node, and ReLU networks peak at kinks.
    m = values.shape[1]
    top = min(top, len(points))
    seed_index = np.argsort(-values, axis=0)[:top].T  # (m, top)
    seeds = points[seed_index.ravel()]
    column = np.repeat(np.arange(m), top)
    current = values[seed_index.ravel(), column]
    directions = np.vstack([np.eye(d), -np.eye(d)])
    n_points = len(points)
    step = spacing.copy()
    for _ in range(rounds):
        random_dirs = rng.uniform(-1, 1, size=(2 * d, d))
        dirs = np.vstack([directions, random_dirs])  # (Q, d)
        cand = np.clip(seeds[:, None, :] + dirs[None] * step, box.lower, box.upper)
        flat = cand.reshape(-1, d)
        cvals = np.abs(_columns(evaluate, flat, orders))
        n_points += len(flat)
        best = np.maximum(best, cvals.max(axis=0))
        own = cvals[np.arange(len(flat)), np.repeat(column, len(dirs))].reshape(len(seeds), -1)
        arg = own.argmax(axis=1)
        better = own[np.arange(len(seeds)), arg] > current
        seeds[better] = cand[better, arg[better]]
        current = np.where(better, own[np.arange(len(seeds)), arg], current)
        step = step / 2
    return NormResult(float(best.max()), None, "grid", n_points, True)
