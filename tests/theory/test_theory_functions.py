"""sobolev_lab.theory.functions against independent oracles: argmin-testfunctions (Rust, analytic
derivatives), scipy's Rosenbrock, HIPS autograd on plain numpy code, torch autograd."""

import pickle

import argmin_testfunctions_py as argmin
import autograd
import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from theory_oracle_functions import REFERENCES

from sobolev_lab.theory.functions import PAPER_FUNCTIONS, generic_names, get, names, sample

RTOL = 1e-10

# argmin's names; its `levy` skips the i = 1 summand of the VLSE definition
# (the Rust loop starts at param[1]), so Levy is checked against autograd only.
ARGMIN = {
    "ackley": "ackley",
    "beale": "beale",
    "booth": "booth",
    "bukin_n6": "bukin_n6",
    "mccormick": "mccormick",
    "rosenbrock": "rosenbrock",
    "styblinski_tang": "styblinski_tang",
    "rastrigin": "rastrigin",
    "sphere": "sphere",
    "himmelblau": "himmelblau",
    "matyas": "matyas",
    "three_hump_camel": "threehumpcamel",
    "goldstein_price": "goldsteinprice",
    "easom": "easom",
}
ARGMIN_GENERIC = ["ackley", "rosenbrock", "styblinski_tang", "rastrigin", "sphere"]


def assert_close(actual, expected, rtol=RTOL):
    """Normwise relative agreement: max|a - e| <= rtol * max(1, max|e|)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual - expected)))
    assert err <= rtol * scale, f"max abs error {err:.3e} > {rtol:.0e} * {scale:.3e}"


def points(f, n=64, seed=0):
    return f.sample(n, seed=seed, margin=1e-2)


# --- registry ---------------------------------------------------------------------------


def test_registry_lists_paper_functions_first_and_at_least_seventeen():
    assert tuple(names()[:7]) == PAPER_FUNCTIONS == tuple(names(paper_only=True))
    assert PAPER_FUNCTIONS == (
        "ackley",
        "beale",
        "booth",
        "bukin_n6",
        "mccormick",
        "rosenbrock",
        "styblinski_tang",
    )
    assert len(names()) >= 17
    assert set(generic_names()) >= {
        "rosenbrock",
        "styblinski_tang",
        "ackley",
        "rastrigin",
        "sphere",
        "griewank",
        "levy",
        "zakharov",
        "dixon_price",
    }


def test_paper_domains():
    expected = {
        "styblinski_tang": [(-5, 5), (-5, 5)],
        "ackley": [(-5, 5), (-5, 5)],
        "beale": [(-4.5, 4.5), (-4.5, 4.5)],
        "booth": [(-10, 10), (-10, 10)],
        "bukin_n6": [(-15, -5), (-3, 3)],
        "mccormick": [(-1.5, 4), (-3, 4)],
        "rosenbrock": [(-2, 2), (-2, 2)],
    }
    for name, pairs in expected.items():
        assert get(name).domain.pairs == pairs


def test_unknown_name_lists_valid_ones():
    with pytest.raises(KeyError, match="valid names: ackley, beale"):
        get("ackly")


def test_dimension_rules():
    assert get("rosenbrock").dim == 2
    assert get("rosenbrock", dim=8).dim == 8
    assert get("rosenbrock", dim=8).domain.lower.shape == (8,)
    assert get("booth", dim=2) is get("booth")
    with pytest.raises(ValueError, match="only defined for dim=2"):
        get("booth", dim=3)
    with pytest.raises(ValueError, match="dim >= 2"):
        get("rosenbrock", dim=1)
    with pytest.raises(ValueError, match="integer"):
        get("sphere", dim=2.5)


def test_bad_points_raise():
    f = get("rosenbrock", dim=3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        f.value(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        f.grad(np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match=r"torch\.Tensor"):
        f.torch_value(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        f.torch_grad(torch.zeros(2, 2, dtype=torch.float64))


def test_shapes_single_point_and_constant_broadcast():
    booth = get("booth")
    x = booth.sample(5, seed=1)
    assert booth.hessian(x).shape == (5, 2, 2)
    assert np.all(booth.hessian(x) == np.array([[10.0, 8.0], [8.0, 10.0]]))
    assert booth.value(x[0]).shape == ()
    assert booth.grad(x[0]).shape == (2,)
    assert booth.torch_hessian(torch.tensor(x)).shape == (5, 2, 2)
    assert get("sphere", dim=4).hessian(np.zeros((3, 4))).shape == (3, 4, 4)


# --- independent oracles ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ARGMIN))
def test_against_argmin_2d(name):
    f, ref = get(name), ARGMIN[name]
    x = points(f, 100, seed=1)
    v = [getattr(argmin, ref)(p) for p in x]
    g = [getattr(argmin, ref + "_derivative")(p) for p in x]
    h = [getattr(argmin, ref + "_hessian")(p) for p in x]
    assert_close(f.value(x), v)
    assert_close(f.grad(x), g)
    assert_close(f.hessian(x), h)


@pytest.mark.parametrize("name", ARGMIN_GENERIC)
@pytest.mark.parametrize("dim", [3, 6])
def test_against_argmin_generic(name, dim):
    f = get(name, dim)
    x = points(f, 30, seed=dim)
    assert_close(f.value(x), [getattr(argmin, name)(p) for p in x])
    assert_close(f.grad(x), [getattr(argmin, name + "_derivative")(p) for p in x])
    assert_close(f.hessian(x), [getattr(argmin, name + "_hessian")(p) for p in x])


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_against_scipy_rosen(dim):
    f = get("rosenbrock", dim)
    x = f.sample(40, seed=dim)
    assert_close(f.value(x), [scipy.optimize.rosen(p) for p in x])
    assert_close(f.grad(x), [scipy.optimize.rosen_der(p) for p in x])
    assert_close(f.hessian(x), [scipy.optimize.rosen_hess(p) for p in x])


def _autograd_derivatives(ref, x):
    # Each row only depends on its own point, so elementwise_grad gives per-row gradients.
    grad = autograd.elementwise_grad(ref)
    hess = np.stack(
        [autograd.elementwise_grad(lambda X, i=i: grad(X)[:, i])(x) for i in range(x.shape[1])],
        axis=1,
    )
    return ref(x), grad(x), hess


@pytest.mark.parametrize("name", names())
def test_against_hips_autograd(name):
    dims = [None, 4] if name in generic_names() else [None]
    for dim in dims:
        f = get(name, dim)
        x = points(f, 50, seed=3)
        v, g, h = _autograd_derivatives(REFERENCES[name], x)
        assert_close(f.value(x), v)
        assert_close(f.grad(x), g)
        assert_close(f.hessian(x), h)


@pytest.mark.parametrize("name", names())
def test_torch_callables_match_numpy_and_autograd(name):
    dims = [None, 3] if name in generic_names() else [None]
    for dim in dims:
        f = get(name, dim)
        x = points(f, 40, seed=4)
        xt = torch.tensor(x, requires_grad=True)
        value = f.torch_value(xt)
        (auto_grad,) = torch.autograd.grad(value.sum(), xt, create_graph=True)
        auto_hess = torch.stack(
            [
                torch.autograd.grad(auto_grad[:, i].sum(), xt, retain_graph=True)[0]
                for i in range(f.dim)
            ],
            dim=1,
        )
        grad_t = f.torch_grad(xt)
        (grad_of_grad,) = torch.autograd.grad(grad_t[:, 0].sum(), xt)
        assert_close(value.detach().numpy(), f.value(x))
        assert_close(auto_grad.detach().numpy(), f.grad(x))
        assert_close(grad_t.detach().numpy(), f.grad(x))
        assert_close(auto_hess.detach().numpy(), f.hessian(x))
        assert_close(f.torch_hessian(xt).detach().numpy(), f.hessian(x))
        assert_close(grad_of_grad.numpy(), f.hessian(x)[:, 0, :])


def test_torch_keeps_float32():
    f = get("beale")
    out = f.torch_grad(torch.zeros(3, 2, dtype=torch.float32))
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", names())
def test_hessians_exactly_symmetric(name):
    f = get(name)
    h = f.hessian(f.sample(20, seed=5))
    assert np.array_equal(h, np.swapaxes(h, 1, 2))


# --- minima -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", names())
def test_known_minima(name):
    for dim in [None, 5] if name in generic_names() else [None]:
        f = get(name, dim)
        m = f.minimum
        assert m is not None and m.locations.shape[1] == f.dim
        values = f.value(m.locations)
        np.testing.assert_allclose(values, m.value, rtol=1e-12, atol=1e-12)
        if f.smooth:
            assert np.max(np.abs(f.grad(m.locations))) < 1e-6
            assert np.all(np.linalg.eigvalsh(f.hessian(m.locations)) > -1e-9)
        # no random point of the domain does better
        assert f.value(f.sample(2000, seed=6)).min() >= m.value - 1e-12
        assert np.all(f.domain.contains(m.locations))


@pytest.mark.parametrize("dim", [1, 2, 3, 7])
def test_styblinski_tang_minimum(dim):
    f = get("styblinski_tang", dim)
    x = np.full((1, dim), -2.903534027771177)
    np.testing.assert_allclose(f.value(x), -39.16616570377141 * dim, rtol=1e-14)
    assert np.max(np.abs(f.grad(x))) < 1e-12


def test_mccormick_minimum():
    f = get("mccormick")
    x = np.array([0.5 - np.pi / 3, -0.5 - np.pi / 3])
    np.testing.assert_allclose(f.value(x), -(np.sqrt(3) / 2 + np.pi / 3), rtol=1e-14)
    np.testing.assert_allclose(f.value(x), -1.9132229549810, rtol=1e-12)
    assert np.max(np.abs(f.grad(x))) < 1e-14


# --- kinks --------------------------------------------------------------------------------


def test_smoothness_flags():
    assert {n for n in names() if not get(n).smooth} == {"ackley", "bukin_n6"}


def test_ackley_kink_convention_numpy_and_torch():
    for dim in (2, 5):
        f = get("ackley", dim)
        origin = np.zeros((1, dim))
        assert np.all(f.grad(origin) == 0)
        # Hessian at the kink: only the smooth cosine part, e * (2 pi)^2 / d on the diagonal.
        np.testing.assert_allclose(f.hessian(origin)[0], np.e * 4 * np.pi**2 / dim * np.eye(dim))
        xt = torch.zeros(1, dim, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(f.torch_value(xt).sum(), xt, create_graph=True)
        assert torch.all(g == 0)
        (h0,) = torch.autograd.grad(g[:, 0].sum(), xt)
        np.testing.assert_allclose(h0.numpy(), f.hessian(origin)[:, 0, :])


def test_bukin_kink_convention():
    f = get("bukin_n6")
    x1 = np.array([-15.0, -12.0, -10.0, -8.0, -5.0])
    ridge = np.stack([x1, x1**2 / 100], axis=1)
    assert np.all(f.distance_to_kink(ridge) < 1e-12)
    g = f.grad(ridge)
    # only the |x1 + 10| summand contributes on the ridge (0 where x1 = -10 too)
    np.testing.assert_array_equal(g[:, 0], 0.01 * np.sign(x1 + 10))
    np.testing.assert_array_equal(g[:, 1], 0.0)
    assert np.all(np.isfinite(f.hessian(ridge)))
    # on x1 = -10 off the ridge only the square-root summand contributes
    off = np.array([[-10.0, 2.0]])
    np.testing.assert_allclose(f.grad(off), [[10.0, 50.0]])  # 100/(2 sqrt(1)) * (0.2, 1)
    xt = torch.tensor(np.vstack([ridge, off]), requires_grad=True)
    (gt,) = torch.autograd.grad(f.torch_value(xt).sum(), xt, create_graph=True)
    np.testing.assert_allclose(gt.detach().numpy(), f.grad(np.vstack([ridge, off])))
    (h,) = torch.autograd.grad(gt[:, 1].sum(), xt)
    assert torch.all(torch.isfinite(h))


def test_no_nan_on_grids_through_kinks():
    for name in ("ackley", "bukin_n6"):
        f = get(name)
        lower, upper = f.domain
        axes = [np.linspace(a, b, 41) for a, b in zip(lower, upper, strict=True)]
        grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
        if name == "bukin_n6":
            grid[:, 1] = np.where(np.arange(len(grid)) % 3 == 0, grid[:, 0] ** 2 / 100, grid[:, 1])
        for out in (f.value(grid), f.grad(grid), f.hessian(grid)):
            assert not np.isnan(out).any()


def test_bukin_distance_against_dense_curve():
    f = get("bukin_n6")
    x = f.sample(200, seed=7)
    t = np.linspace(-60, 60, 600_001)
    curve = np.stack([t, t**2 / 100], axis=1)
    brute = np.array([min(np.min(np.hypot(*(curve - p).T)), abs(p[0] + 10)) for p in x[:20]])
    np.testing.assert_allclose(f.distance_to_kink(x[:20]), brute, atol=2e-4)
    assert np.all(f.distance_to_kink(x) >= 0)


@given(margin=st.floats(0.01, 0.5), seed=st.integers(0, 2**31))
@settings(deadline=None, max_examples=10)
def test_sampler_keeps_margin(margin, seed):
    for name in ("ackley", "bukin_n6"):
        f = get(name)
        x = f.sample(200, seed=seed, margin=margin)
        assert x.shape == (200, 2) and x.dtype == np.float64
        assert np.all(f.distance_to_kink(x) >= margin)
        assert np.all(f.domain.contains(x))


def test_sample_reproducible_and_module_level():
    f = get("styblinski_tang", 3)
    a = f.sample(10, seed=3)
    assert np.array_equal(a, sample(f, 10, 3))
    assert sample("styblinski_tang", 10, 3).shape == (10, 2)  # a name gives the 2-D version
    assert np.array_equal(sample(f, 10, np.random.default_rng(3)), a)
    assert np.all(np.isinf(f.distance_to_kink(a)))
    with pytest.raises(ValueError, match="margin"):
        f.sample(3, margin=-1.0)
    with pytest.raises(ValueError, match="n must"):
        f.sample(-1)


def test_pickle_by_name_and_dim():
    f = get("ackley", 3)
    g = pickle.loads(pickle.dumps(f))
    assert g is f  # rebuilt through the cached registry
    x = f.sample(5, seed=0)
    assert np.array_equal(g.grad(x), f.grad(x))


def test_unpickles_in_a_fresh_process():
    # downstream sweeps ship functions to loky workers: rebuild by (name, dim) there
    import subprocess
    import sys

    f = get("bukin_n6")
    code = (
        "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); "
        "print(repr(float(f.grad([[-12.0, 1.0]])[0, 1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(f), capture_output=True, check=True
    )
    assert float(out.stdout) == f.grad(np.array([[-12.0, 1.0]]))[0, 1]


@pytest.mark.parametrize("name", generic_names())
def test_generic_functions_in_one_dimension(name):
    if name == "rosenbrock":
        pytest.skip("Rosenbrock needs d >= 2")
    f = get(name, 1)
    x = f.sample(30, seed=0, margin=1e-2)
    v, g, h = _autograd_derivatives(REFERENCES[name], x)
    assert_close(f.value(x), v)
    assert_close(f.grad(x), g)
    assert_close(f.hessian(x), h)
