"""sobolev_lab.theory.norms: closed forms, independent quadrature, norm axioms (hypothesis)."""

import numpy as np
import pytest
import scipy.integrate
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sobolev_lab.theory.functions import get
from sobolev_lab.theory.norms import (
    Box,
    as_box,
    flatten_table,
    multi_indices,
    sobolev_distance,
    sobolev_norm,
    sobolev_seminorm,
)
from sobolev_lab.theory.norms.quadrature import gauss_legendre

x, y = sp.symbols("x y", real=True)
PI = np.pi
UNIT_SQUARE = [(0.0, 1.0), (0.0, 1.0)]


def mlp(dim, seed, width=16, activation=torch.nn.Tanh):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(dim, width), activation(), torch.nn.Linear(width, 1)
    ).double()


# --- closed forms derived by hand -----------------------------------------------------------


@pytest.mark.parametrize("method", ["exact", "gauss"])
def test_sin_on_zero_pi(method):
    # int sin^2 = int cos^2 = pi/2 over [0, pi]
    sin, dom = sp.sin(x), [(0, PI)]
    assert sobolev_norm(sin, dom, k=0, method=method) == pytest.approx(np.sqrt(PI / 2), rel=1e-12)
    assert sobolev_norm(sin, dom, k=1, method=method) == pytest.approx(np.sqrt(PI), rel=1e-12)
    assert sobolev_norm(sin, dom, k=2, method=method) == pytest.approx(
        np.sqrt(3 * PI / 2), rel=1e-12
    )
    assert sobolev_seminorm(sin, dom, k=1, method=method) == pytest.approx(
        np.sqrt(PI / 2), rel=1e-12
    )


def test_sin_other_p():
    dom = [(0, PI)]
    # int |sin| = int |cos| = 2 on [0, pi]; |cos| has a kink, so Gauss converges slowly
    assert sobolev_norm(sp.sin(x), dom, k=1, p=1, n_per_dim=2000) == pytest.approx(4, rel=1e-6)
    assert sobolev_norm(sp.sin(x), dom, k=1, p="inf") == pytest.approx(1.0, abs=1e-12)
    assert sobolev_norm(sp.sin(x), dom, k=1, p=np.inf, full_output=True).lower_bound


def test_xy_on_unit_square():
    f = x * y
    # int x^2 y^2 = 1/9, int y^2 = int x^2 = 1/3, d2/dxdy = 1, the rest 0
    for method in ("exact", "gauss"):
        assert sobolev_norm(f, UNIT_SQUARE, 1, 2, method) == pytest.approx(np.sqrt(7 / 9))
        assert sobolev_norm(f, UNIT_SQUARE, 2, 2, method) == pytest.approx(4 / 3, rel=1e-12)
        assert sobolev_seminorm(f, UNIT_SQUARE, 1, 2, method) == pytest.approx(np.sqrt(2 / 3))
        assert sobolev_seminorm(f, UNIT_SQUARE, 2, 2, method) == pytest.approx(1.0, rel=1e-12)
    # each mixed partial once: W^{2,1} = 1/4 + 1/2 + 1/2 + 1 (not 1 + 1 for xy and yx)
    assert sobolev_norm(f, UNIT_SQUARE, 2, 1) == pytest.approx(2.25, rel=1e-12)
    assert sobolev_norm(f, UNIT_SQUARE, 1, "inf") == pytest.approx(1.0, abs=1e-12)


def test_sum_of_squares_qmc_in_5d():
    # f = sum x_i^2 on [0,1]^d: int f^2 = d/5 + d(d-1)/9, int (2 x_i)^2 = 4/3
    d = 5
    syms = sp.symbols(f"z1:{d + 1}", real=True)
    f = sum(s**2 for s in syms)
    exact = np.sqrt(d / 5 + d * (d - 1) / 9 + 4 * d / 3)
    res = sobolev_norm(f, [(0, 1)] * d, k=1, p=2, method="qmc", full_output=True)
    assert res.method == "qmc" and res.error > 0
    assert abs(res.value - exact) < 6 * res.error + 1e-12
    assert abs(res.value - exact) < 1e-3 * exact
    assert sobolev_norm(f, [(0, 1)] * d, k=1, p=2, method="exact") == pytest.approx(exact)


def test_w0p_is_lp_against_scipy_quad():
    net = mlp(1, 0)

    def g(t):
        with torch.no_grad():
            return float(net(torch.tensor([[t]], dtype=torch.float64)))

    # |net|^p is smooth for even p; for other p it has a kink at each zero of net, so
    # Gauss needs more points there.
    for p, n, rel in ((2.0, 256, 1e-10), (4.0, 256, 1e-10), (1.0, 4000, 1e-6), (3.5, 4000, 1e-8)):
        ref = scipy.integrate.quad(lambda t, p=p: abs(g(t)) ** p, -1, 2, limit=200)[0]
        got = sobolev_norm(net, [(-1, 2)], k=0, p=p, n_per_dim=n)
        assert got == pytest.approx(ref ** (1 / p), rel=rel)
    expr = sp.exp(x) * sp.cos(3 * y)
    ref = scipy.integrate.dblquad(lambda b, a: (np.exp(a) * np.cos(3 * b)) ** 4, 0, 1, 0, 2)
    assert sobolev_norm(expr, [(0, 1), (0, 2)], k=0, p=4) == pytest.approx(
        ref[0] ** (1 / 4), rel=1e-10
    )


def test_first_order_against_scipy_quad_for_a_network():
    net = mlp(1, 1)
    t = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]

    def value_and_slope(s):
        z = torch.tensor([[s]], dtype=torch.float64, requires_grad=True)
        out = net(z).sum()
        (dz,) = torch.autograd.grad(out, z)
        out = out.detach()
        return out.item(), dz.item()

    assert t.shape == (5, 1)
    ref = scipy.integrate.quad(lambda s: sum(v**2 for v in value_and_slope(s)), -1, 1)[0]
    assert sobolev_norm(net, [(-1, 1)], k=1, p=2) == pytest.approx(np.sqrt(ref), rel=1e-10)


# --- agreement between input kinds and methods ------------------------------------------------


def test_registry_function_sympy_and_torch_agree():
    f = get("three_hump_camel")
    dom = [(-1.0, 1.0), (-0.5, 1.5)]
    by_methods = sobolev_norm(f, dom, k=2, p=2, method="gauss")
    by_expr = sobolev_norm(f.expr, dom, k=2, p=2, method="gauss")
    by_torch = sobolev_norm(f.torch_value, dom, k=2, p=2, method="gauss")
    exact = sobolev_norm(f.expr, dom, k=2, p=2)  # polynomial: exact by default
    assert by_methods == pytest.approx(exact, rel=1e-12)
    assert by_expr == pytest.approx(exact, rel=1e-12)
    assert by_torch == pytest.approx(exact, rel=1e-12)


@given(
    degree=st.integers(1, 5),
    coeffs=st.lists(st.integers(-5, 5), min_size=21, max_size=21),
    p=st.sampled_from([2, 4]),
    k=st.integers(0, 2),
)
@settings(deadline=None, max_examples=10)  # symbolic integration is the slow part
def test_gauss_equals_exact_on_polynomials(degree, coeffs, p, k):
    monomials = [x**i * y**j for i in range(6) for j in range(6) if i + j <= degree]
    f = sum(c * m for c, m in zip(coeffs, monomials, strict=False)) + 1
    dom = [(-1.0, 0.5), (0.0, 2.0)]
    exact = sobolev_norm(f, dom, k=k, p=p, method="exact", symbols=(x, y))
    # Gauss with n points is exact up to degree 2n - 1 per variable
    n = degree * p // 2 + 1
    gauss = sobolev_norm(f, dom, k=k, p=p, method="gauss", n_per_dim=n, symbols=(x, y))
    assert gauss == pytest.approx(exact, rel=1e-11)


def test_qmc_converges_with_more_points():
    f = get("rosenbrock", 4)
    exact = sobolev_norm(f.expr, f.domain, k=1, p=2, method="exact")
    errors = [
        abs(sobolev_norm(f, k=1, p=2, method="qmc", log2_n=m) - exact) / exact for m in (6, 12)
    ]
    assert errors[1] < errors[0] and errors[1] < 1e-3


# --- norm axioms (hypothesis) -----------------------------------------------------------------

P_VALUES = st.sampled_from([1.0, 2.0, 3.0, np.inf])


EXPONENTS = [(i, j) for i in range(4) for j in range(4) if i + j <= 3]


class Poly2:
    """A cubic in two variables as a torch callable (autodiff derivatives, no sympy)."""

    def __init__(self, coeffs):
        self.coeffs = list(coeffs)

    def __call__(self, t):
        return sum(
            c * t[:, 0] ** i * t[:, 1] ** j
            for c, (i, j) in zip(self.coeffs, EXPONENTS, strict=True)
        )

    def expr(self):
        return sum(c * x**i * y**j for c, (i, j) in zip(self.coeffs, EXPONENTS, strict=True))


polynomials = st.lists(st.floats(-3, 3), min_size=10, max_size=10).map(Poly2)


@given(f=polynomials, g=polynomials, c=st.floats(-4, 4), p=P_VALUES, k=st.integers(0, 2))
@settings(deadline=None)
def test_axioms_on_polynomials(f, g, c, p, k):
    dom = [(-1.0, 1.0), (0.0, 1.0)]
    opts = dict(k=k, p=p, method="grid" if p == np.inf else "gauss", n_per_dim=33)
    nf, ng = sobolev_norm(f, dom, **opts), sobolev_norm(g, dom, **opts)
    assert nf >= 0 and ng >= 0
    scaled = sobolev_norm(lambda t: c * f(t), dom, **opts)
    assert scaled == pytest.approx(abs(c) * nf, rel=1e-9, abs=1e-12)
    assert sobolev_norm(lambda t: f(t) + g(t), dom, **opts) <= (nf + ng) * (1 + 1e-9) + 1e-12
    assert sobolev_distance(f, g, dom, **opts) == pytest.approx(
        sobolev_norm(lambda t: f(t) - g(t), dom, **opts), rel=1e-9, abs=1e-12
    )


def test_torch_polynomial_matches_sympy_polynomial():
    f = Poly2([0.5, -1.0, 2.0, 0.25, 1.5, -2.0, 0.75, 1.0, -0.5, 3.0])
    dom = [(-1.0, 1.0), (0.0, 1.0)]
    for k, p in ((2, 2), (1, 3.0), (2, np.inf)):
        assert sobolev_norm(f, dom, k=k, p=p) == pytest.approx(
            sobolev_norm(f.expr(), dom, k=k, p=p, symbols=(x, y)), rel=1e-12
        )


@given(
    seeds=st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
    dim=st.integers(1, 4),
    c=st.floats(-3, 3),
    p=st.sampled_from([1.0, 2.0, 2.5]),
    k=st.integers(0, 2),
)
@settings(deadline=None)
def test_axioms_on_networks(seeds, dim, c, p, k):
    f, g = mlp(dim, seeds[0]), mlp(dim, seeds[1])
    dom = [(-1.0, 1.0)] * dim
    opts = dict(k=k, p=p, n_per_dim=8, log2_n=8, replicates=2)  # same points for all calls
    nf, ng = sobolev_norm(f, dom, **opts), sobolev_norm(g, dom, **opts)
    assert nf > 0 and ng > 0
    scaled = sobolev_norm(lambda t: c * f(t), dom, **opts)
    assert scaled == pytest.approx(abs(c) * nf, rel=1e-10, abs=1e-14)
    total = sobolev_norm(lambda t: f(t) + g(t), dom, **opts)
    assert total <= (nf + ng) * (1 + 1e-10)
    assert sobolev_distance(f, f, dom, **opts) == 0.0


@given(f=polynomials, p=P_VALUES)
@settings(deadline=None)
def test_monotone_in_k_and_w0p_is_lp(f, p):
    dom = [(-1.0, 1.0), (-2.0, 1.0)]
    method = "grid" if p == np.inf else "gauss"
    norms = [sobolev_norm(f, dom, k=k, p=p, method=method, n_per_dim=17) for k in (0, 1, 2)]
    assert norms[0] <= norms[1] <= norms[2]
    if p != np.inf:
        points, weights = gauss_legendre(as_box(dom), 17)
        with torch.no_grad():
            values = f(torch.from_numpy(points)).numpy()
        lp = (weights @ np.abs(values) ** p) ** (1 / p)
        assert norms[0] == pytest.approx(lp, rel=1e-12, abs=1e-300)


# --- p = inf -------------------------------------------------------------------------------


def test_sup_norm_finds_off_grid_maximum_and_is_lower_bound():
    # max of |d/dx| of sin(7.3 x) on [0, 1] is 7.3 (at x = 0); value max 1 at x = pi/14.6
    f = sp.sin(sp.Rational(73, 10) * x)
    res = sobolev_norm(f, [(0.0, 1.0)], k=1, p=np.inf, n_per_dim=7, full_output=True)
    assert res.value == pytest.approx(7.3, rel=1e-12)
    value_only = sobolev_norm(f, [(0.0, 1.0)], k=0, p=np.inf, n_per_dim=7)
    assert value_only <= 1.0 and value_only == pytest.approx(1.0, abs=1e-9)


def test_sup_norm_of_network_in_8d_is_fast_and_bounded_by_corners():
    net = mlp(8, 3, width=32, activation=torch.nn.ReLU)
    dom = [(-1.0, 1.0)] * 8
    sup = sobolev_distance(net, get("sphere", 8), dom, k=1, p=np.inf)
    # sphere's gradient alone reaches 2 at a corner; the network is O(1)
    assert sup >= 2.0
    assert sobolev_norm(net, dom, k=0, p=np.inf) <= sobolev_norm(net, dom, k=1, p=np.inf)


# --- inputs and errors ------------------------------------------------------------------------


def test_multi_indices_count_each_mixed_partial_once():
    assert multi_indices(3, (2,)) == [
        (2, 0, 0),
        (1, 1, 0),
        (1, 0, 1),
        (0, 2, 0),
        (0, 1, 1),
        (0, 0, 2),
    ]
    assert len(multi_indices(4, (0, 1, 2))) == 1 + 4 + 10
    table = [np.zeros(2), np.ones((2, 3)), np.arange(18.0).reshape(2, 3, 3)]
    assert flatten_table(table, (2,)).tolist()[0] == [0, 1, 2, 4, 5, 8]


def test_domain_parsing():
    assert as_box([(0, 1), (2, 3)]).pairs == [(0, 1), (2, 3)]
    assert as_box((np.array([0.0, 2.0]), np.array([1.0, 3.0]))).pairs == [(0, 1), (2, 3)]
    assert as_box((0, 2)).pairs == [(0, 2)]
    assert isinstance(get("booth").domain, Box)
    with pytest.raises(ValueError, match="lower < upper"):
        as_box([(1, 0)])
    with pytest.raises(ValueError, match="dimension 2, expected 3"):
        as_box([(0, 1), (0, 1)], dim=3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        sobolev_norm(x, [(0, 1)], k=3)
    with pytest.raises(ValueError, match="p must"):
        sobolev_norm(x, [(0, 1)], p=0.5)
    with pytest.raises(ValueError, match="method must"):
        sobolev_norm(x, [(0, 1)], method="simpson")
    with pytest.raises(ValueError, match="p = inf needs"):
        sobolev_norm(x, [(0, 1)], p=np.inf, method="gauss")
    with pytest.raises(ValueError, match="even integer"):
        sobolev_norm(x, [(0, 1)], p=3, method="exact")
    with pytest.raises(ValueError, match="free symbols"):
        sobolev_norm(x * y, [(0, 1)])
    with pytest.raises(ValueError, match="domain is required"):
        sobolev_norm(lambda t: t[:, 0], k=0)
    with pytest.raises(ValueError, match="several outputs"):
        sobolev_norm(torch.nn.Linear(2, 3).double(), UNIT_SQUARE)
    with pytest.raises(ValueError, match="derivatives are unavailable"):
        sobolev_norm(lambda t: np.sin(np.asarray(t)[:, 0]), UNIT_SQUARE, k=1)
    with pytest.raises(ValueError, match="dimension"):
        sobolev_distance(get("beale"), get("sphere", 3))
    with pytest.raises(FloatingPointError, match="NaN"):
        sobolev_norm(sp.sqrt(sp.Abs(x)), [(-1, 1)], k=1, p=np.inf)


def test_numpy_callable_values_only():
    val = sobolev_norm(lambda t: np.sin(np.asarray(t)[:, 0]), [(0, PI)], k=0)
    assert val == pytest.approx(np.sqrt(PI / 2), rel=1e-12)


def test_model_is_left_untouched_and_float32_is_upcast():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net.train()
    d32 = sobolev_norm(net, UNIT_SQUARE, k=1)
    assert next(net.parameters()).dtype == torch.float32 and net.training
    d64 = sobolev_norm(net.double(), UNIT_SQUARE, k=1)
    assert d32 == d64


def test_distance_model_to_registry_function_matches_expression():
    net = mlp(2, 5)
    f = get("mccormick")
    by_fn = sobolev_distance(net, f, k=1, p=2)  # domain from f
    by_expr = sobolev_distance(net, f.expr, f.domain, k=1, p=2)
    assert by_fn == pytest.approx(by_expr, rel=1e-12)
    assert sobolev_distance(f, f.expr, k=2, p=2) == pytest.approx(0.0, abs=1e-9)
