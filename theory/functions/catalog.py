"""Symbolic definitions of the classical optimisation test functions.

Each entry is written once, as a sympy expression in real symbols ``x1 .. xd``,
following the Virtual Library of Simulation Experiments (VLSE, Surjanovic & Bingham)
conventions. The seven functions of the Sobolev Training paper (Czarnecki et al.,
2017) use the 2-D domains of the paper's appendix; their dimension-generic versions
keep the same box in every coordinate.

Non-smooth functions split their expression into a smooth part and a list of
:class:`KinkTerm` s. Each kink term is non-differentiable exactly where its
``indicator`` expression vanishes; :mod:`sobolev_lab.theory.functions.compiled` uses that split
to apply the derivative convention at kinks (see :mod:`sobolev_lab.theory.functions`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from sobolev_lab.theory.functions import kinks

# Styblinski-Tang minimiser: the root of 4x^3 - 32x + 5 = 0 near -2.9.
STYBLINSKI_TANG_ARGMIN = -2.903534027771177
STYBLINSKI_TANG_MIN_PER_DIM = -39.16616570377141


@dataclass(frozen=True)
class Minimum:
    """Known global minimum.

    Attributes
    ----------
    value : float
        Minimum value ``f(x*)``.
    locations : numpy.ndarray, shape (m, d)
        All known global minimisers (``m >= 1``), float64.
    """

    value: float
    locations: np.ndarray


@dataclass(frozen=True)
class KinkTerm:
    """A summand that is not differentiable where ``indicator`` vanishes.

    Attributes
    ----------
    expr : sympy.Expr
        The summand.
    indicator : sympy.Expr
        Scalar expression whose zero set is the term's kink set.
    safe_point : tuple of float, length d
        A point where ``indicator != 0``; derivatives of the term are evaluated there
        instead of at kink points so that no ``0/0`` is ever formed.
    """

    expr: sp.Expr
    indicator: sp.Expr
    safe_point: tuple[float, ...]


@dataclass(frozen=True)
class Definition:
    """Recipe for one test function at a given dimension."""

    smooth_expr: sp.Expr
    kink_terms: tuple[KinkTerm, ...]
    lower: np.ndarray
    upper: np.ndarray
    minimum: Minimum | None
    kink_distance: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def expr(self) -> sp.Expr:
        return self.smooth_expr + sum((t.expr for t in self.kink_terms), sp.S.Zero)


@dataclass(frozen=True)
class Entry:
    """Catalog entry: how to build a function for a dimension ``d``.

    ``fixed_dim`` is the only allowed dimension of a fixed-dimension function, or
    ``None`` for a dimension-generic one (then ``min_dim <= d``).
    """

    name: str
    title: str
    build: Callable[[tuple[sp.Symbol, ...]], Definition]
    fixed_dim: int | None = None
    min_dim: int = 1
    paper: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


def make_symbols(dim: int) -> tuple[sp.Symbol, ...]:
    """Real symbols ``x1 .. x{dim}`` (real, so that ``Abs`` differentiates to ``sign``)."""
    return tuple(sp.symbols(f"x1:{dim + 1}", real=True))


def _box(dim: int, lo: float | Sequence[float], hi: float | Sequence[float]):
    lower = np.broadcast_to(np.asarray(lo, dtype=np.float64), (dim,)).copy()
    upper = np.broadcast_to(np.asarray(hi, dtype=np.float64), (dim,)).copy()
    return lower, upper


def _at(value: float, *points: Sequence[float]) -> Minimum:
    return Minimum(float(value), np.atleast_2d(np.asarray(points, dtype=np.float64)))


R = sp.Rational


# --- the paper's seven functions (dimension-generic where the definition allows) ------


def _ackley(x):
    d = len(x)
    a, b, c = 20, R(1, 5), 2 * sp.pi
    squares = sum(xi**2 for xi in x)
    # The cone term -a exp(-b r / sqrt(d)) has a kink at r = 0; the rest is smooth.
    cone = -a * sp.exp(-b * sp.sqrt(squares / d))
    smooth = -sp.exp(sum(sp.cos(c * xi) for xi in x) / d) + a + sp.E
    lower, upper = _box(d, -5.0, 5.0)
    return Definition(
        smooth_expr=smooth,
        kink_terms=(KinkTerm(cone, squares, (1.0,) * d),),
        lower=lower,
        upper=upper,
        minimum=_at(0.0, [0.0] * d),
        kink_distance=kinks.distance_to_origin,
    )


def _beale(x):
    x1, x2 = x
    expr = (
        (R(3, 2) - x1 + x1 * x2) ** 2
        + (R(9, 4) - x1 + x1 * x2**2) ** 2
        + (R(21, 8) - x1 + x1 * x2**3) ** 2
    )
    return Definition(expr, (), *_box(2, -4.5, 4.5), _at(0.0, [3.0, 0.5]))


def _booth(x):
    x1, x2 = x
    expr = (x1 + 2 * x2 - 7) ** 2 + (2 * x1 + x2 - 5) ** 2
    return Definition(expr, (), *_box(2, -10.0, 10.0), _at(0.0, [1.0, 3.0]))


def _bukin_n6(x):
    x1, x2 = x
    ridge = x2 - R(1, 100) * x1**2
    # Both summands are non-smooth: a square-root cusp along the whole parabola
    # x2 = x1^2/100 and an |.| kink on the line x1 = -10.
    terms = (
        KinkTerm(100 * sp.sqrt(sp.Abs(ridge)), ridge, (0.0, 1.0)),
        KinkTerm(R(1, 100) * sp.Abs(x1 + 10), x1 + 10, (0.0, 1.0)),
    )
    return Definition(
        sp.S.Zero,
        terms,
        *_box(2, [-15.0, -3.0], [-5.0, 3.0]),
        _at(0.0, [-10.0, 1.0]),
        kink_distance=kinks.bukin_n6_distance,
    )


def _mccormick(x):
    x1, x2 = x
    expr = sp.sin(x1 + x2) + (x1 - x2) ** 2 - R(3, 2) * x1 + R(5, 2) * x2 + 1
    value = -(np.sqrt(3.0) / 2 + np.pi / 3)
    return Definition(
        expr,
        (),
        *_box(2, [-1.5, -3.0], [4.0, 4.0]),
        _at(value, [0.5 - np.pi / 3, -0.5 - np.pi / 3]),
    )


def _rosenbrock(x):
    d = len(x)
    expr = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(d - 1))
    return Definition(expr, (), *_box(d, -2.0, 2.0), _at(0.0, [1.0] * d))


def _styblinski_tang(x):
    d = len(x)
    expr = R(1, 2) * sum(xi**4 - 16 * xi**2 + 5 * xi for xi in x)
    return Definition(
        expr,
        (),
        *_box(d, -5.0, 5.0),
        _at(STYBLINSKI_TANG_MIN_PER_DIM * d, [STYBLINSKI_TANG_ARGMIN] * d),
    )


# --- further standard functions ------------------------------------------------------


def _rastrigin(x):
    d = len(x)
    expr = 10 * d + sum(xi**2 - 10 * sp.cos(2 * sp.pi * xi) for xi in x)
    return Definition(expr, (), *_box(d, -5.12, 5.12), _at(0.0, [0.0] * d))


def _griewank(x):
    d = len(x)
    expr = (
        sum(xi**2 for xi in x) / 4000
        - sp.Mul(*[sp.cos(xi / sp.sqrt(i + 1)) for i, xi in enumerate(x)])
        + 1
    )
    return Definition(expr, (), *_box(d, -600.0, 600.0), _at(0.0, [0.0] * d))


def _levy(x):
    d = len(x)
    w = [1 + (xi - 1) / 4 for xi in x]
    expr = (
        sp.sin(sp.pi * w[0]) ** 2
        + sum((w[i] - 1) ** 2 * (1 + 10 * sp.sin(sp.pi * w[i] + 1) ** 2) for i in range(d - 1))
        + (w[-1] - 1) ** 2 * (1 + sp.sin(2 * sp.pi * w[-1]) ** 2)
    )
    return Definition(expr, (), *_box(d, -10.0, 10.0), _at(0.0, [1.0] * d))


def _sphere(x):
    d = len(x)
    return Definition(sum(xi**2 for xi in x), (), *_box(d, -5.12, 5.12), _at(0.0, [0.0] * d))


def _zakharov(x):
    d = len(x)
    s = sum(R(1, 2) * (i + 1) * xi for i, xi in enumerate(x))
    expr = sum(xi**2 for xi in x) + s**2 + s**4
    return Definition(expr, (), *_box(d, -5.0, 10.0), _at(0.0, [0.0] * d))


def _dixon_price(x):
    d = len(x)
    expr = (x[0] - 1) ** 2 + sum((i + 1) * (2 * x[i] ** 2 - x[i - 1]) ** 2 for i in range(1, d))
    # x_i = 2^(-(2^i - 2) / 2^i), i = 1..d (the positive branch; signs of x_2.. may flip).
    argmin = [2.0 ** (-(2.0**i - 2.0) / 2.0**i) for i in range(1, d + 1)]
    return Definition(expr, (), *_box(d, -10.0, 10.0), _at(0.0, argmin))


def _matyas(x):
    x1, x2 = x
    expr = R(26, 100) * (x1**2 + x2**2) - R(48, 100) * x1 * x2
    return Definition(expr, (), *_box(2, -10.0, 10.0), _at(0.0, [0.0, 0.0]))


def _himmelblau(x):
    x1, x2 = x
    expr = (x1**2 + x2 - 11) ** 2 + (x1 + x2**2 - 7) ** 2
    minima = _at(
        0.0,
        [3.0, 2.0],
        [-2.805118086952745, 3.131312518250573],
        [-3.779310253377747, -3.2831859912861696],
        [3.5844283403304917, -1.8481265269644036],
    )
    return Definition(expr, (), *_box(2, -5.0, 5.0), minima)


def _three_hump_camel(x):
    x1, x2 = x
    expr = 2 * x1**2 - R(105, 100) * x1**4 + x1**6 / 6 + x1 * x2 + x2**2
    return Definition(expr, (), *_box(2, -5.0, 5.0), _at(0.0, [0.0, 0.0]))


def _six_hump_camel(x):
    x1, x2 = x
    expr = (4 - R(21, 10) * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2
    a, b = 0.08984201368301331, -0.7126564032704135
    return Definition(
        expr, (), *_box(2, [-3.0, -2.0], [3.0, 2.0]), _at(-1.0316284534898774, [a, b], [-a, -b])
    )


def _goldstein_price(x):
    x1, x2 = x
    expr = (
        1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    ) * (
        30
        + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2 + 27 * x2**2)
    )
    return Definition(expr, (), *_box(2, -2.0, 2.0), _at(3.0, [0.0, -1.0]))


def _branin(x):
    x1, x2 = x
    b, c, t = R(51, 10) / (4 * sp.pi**2), 5 / sp.pi, 1 / (8 * sp.pi)
    expr = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * sp.cos(x1) + 10
    minima = _at(5 / (4 * np.pi), [-np.pi, 12.275], [np.pi, 2.275], [3 * np.pi, 2.475])
    return Definition(expr, (), *_box(2, [-5.0, 0.0], [10.0, 15.0]), minima)


def _easom(x):
    x1, x2 = x
    expr = -sp.cos(x1) * sp.cos(x2) * sp.exp(-((x1 - sp.pi) ** 2) - (x2 - sp.pi) ** 2)
    return Definition(expr, (), *_box(2, -100.0, 100.0), _at(-1.0, [np.pi, np.pi]))


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("ackley", "Ackley", _ackley, paper=True),
        Entry("beale", "Beale", _beale, fixed_dim=2, paper=True),
        Entry("booth", "Booth", _booth, fixed_dim=2, paper=True),
        Entry("bukin_n6", "Bukin N.6", _bukin_n6, fixed_dim=2, paper=True),
        Entry("mccormick", "McCormick", _mccormick, fixed_dim=2, paper=True),
        Entry("rosenbrock", "Rosenbrock", _rosenbrock, min_dim=2, paper=True),
        Entry("styblinski_tang", "Styblinski-Tang", _styblinski_tang, paper=True),
        Entry("rastrigin", "Rastrigin", _rastrigin),
        Entry("griewank", "Griewank", _griewank),
        Entry("levy", "Levy", _levy),
        Entry("sphere", "Sphere", _sphere),
        Entry("zakharov", "Zakharov", _zakharov),
        Entry("dixon_price", "Dixon-Price", _dixon_price),
        Entry("matyas", "Matyas", _matyas, fixed_dim=2),
        Entry("himmelblau", "Himmelblau", _himmelblau, fixed_dim=2),
        Entry("three_hump_camel", "Three-hump camel", _three_hump_camel, fixed_dim=2),
        Entry("six_hump_camel", "Six-hump camel", _six_hump_camel, fixed_dim=2),
        Entry("goldstein_price", "Goldstein-Price", _goldstein_price, fixed_dim=2),
        Entry("branin", "Branin", _branin, fixed_dim=2),
        Entry("easom", "Easom", _easom, fixed_dim=2),
    ]
}

PAPER_FUNCTIONS: tuple[str, ...] = tuple(n for n, e in ENTRIES.items() if e.paper)
