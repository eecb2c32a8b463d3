"""Exact Sobolev integrals by symbolic integration over boxes."""

from __future__ import annotations

import sympy as sp

from sobolev_lab.theory.domain import Box
from sobolev_lab.theory.norms.multi_index import multi_indices


def is_even_integer(p: float) -> bool:
    return p != float("inf") and float(p).is_integer() and int(p) % 2 == 0 and p > 0


def exact_power_sum(expr: sp.Expr, symbols, box: Box, orders, p: float) -> sp.Expr:
    """``sum_alpha int_box (D^alpha expr)^p dx`` as an exact sympy number.

    Only even integer ``p`` (then ``|g|^p = g^p`` needs no absolute value). Box ends are
    converted to the exact rationals of their float64 values.

    Raises
    ------
    ValueError
        ``p`` is not an even integer, or sympy returns an unevaluated integral.
    """
    if not is_even_integer(p):
        raise ValueError(f"method='exact' needs an even integer p; got p={p}")
    bounds = [
        (s, sp.Rational(float(lo)), sp.Rational(float(hi)))
        for s, lo, hi in zip(symbols, box.lower, box.upper, strict=True)
    ]
    total = sp.S.Zero
    for alpha in multi_indices(len(symbols), orders):
        derivative = expr
        for axis, count in enumerate(alpha):
            if count:
                derivative = sp.diff(derivative, symbols[axis], count)
        if derivative.is_polynomial(*symbols):
            # Poly arithmetic expands (D f)^p far faster than sympy.expand.
            value = _integrate_polynomial(sp.Poly(derivative, *symbols) ** int(p), bounds)
        else:
            value = sp.integrate(derivative ** int(p), *bounds)
        if value.has(sp.Integral):
            raise ValueError(f"sympy could not integrate ({derivative})**{int(p)} exactly")
        total += value
    return sp.nsimplify(total) if total.is_Rational else total


def _integrate_polynomial(poly: sp.Poly, bounds) -> sp.Expr:
    # Term by term: int_box x^a = prod_i (hi_i^(a_i+1) - lo_i^(a_i+1)) / (a_i+1).
    total = sp.S.Zero
    for powers, coeff in poly.terms():
        term = coeff
        for a, (_, lo, hi) in zip(powers, bounds, strict=True):
            term *= (hi ** (a + 1) - lo ** (a + 1)) / (a + 1)
        total += term
    return total
