"""Theorem 1 (1-D ReLU construction), the finite-set interpolation Proposition, and
the Theorem 2 lower bound, checked numerically."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sobolev_lab.theory.constructions import (
    convergence_table,
    coupling_demo,
    coupling_lower_bound,
    fitted_rate,
    interpolating_relu_network,
    minimax_fit,
    relu_interpolant_1d,
    sobolev_training_loss,
)

# --- Theorem 1 -------------------------------------------------------------------------------


def test_interpolant_is_one_hidden_layer_relu_and_interpolates():
    f = np.cos
    net = relu_interpolant_1d(f, -1.0, 2.0, 7)
    kinds = [type(m) for m in net]
    assert kinds == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert net[0].out_features == 6
    knots = np.linspace(-1, 2, 7)
    with torch.no_grad():
        out = net(torch.from_numpy(knots)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(out, f(knots), atol=1e-14)
    # linear between knots: the midpoint value is the chord's
    mid = (knots[:-1] + knots[1:]) / 2
    with torch.no_grad():
        out_mid = net(torch.from_numpy(mid)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(out_mid, (f(knots[:-1]) + f(knots[1:])) / 2, atol=1e-14)


def test_interpolant_slope_at_left_end():
    net = relu_interpolant_1d(lambda t: 3 * t + 1, 0.0, 1.0, 4)
    x = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(net(x).sum(), x)
    assert float(g) == pytest.approx(3.0)


def test_theorem1_rate_is_one_over_n_for_c2_function():
    def f(x):
        return torch.sin(3 * x[:, 0]) + x[:, 0] ** 2 / 2

    knots = [8, 16, 32, 64]
    rows = convergence_table(f, 0.0, 2.0, knots, n_quad=4096)
    w1inf = [r["w1inf"] for r in rows]
    w12 = [r["w12"] for r in rows]
    assert all(a > b for a, b in itertools.pairwise(w1inf))
    assert all(a > b for a, b in itertools.pairwise(w12))
    assert fitted_rate(knots, w1inf) == pytest.approx(-1.0, abs=0.1)
    assert fitted_rate(knots, w12) == pytest.approx(-1.0, abs=0.1)
    # |f' - h'|_inf <= |f''|_inf H with |f''| <= 9 + 1, H = 2 / (n - 1)
    for n, e in zip(knots, w1inf, strict=True):
        assert e <= 10 * 2 / (n - 1)


def test_interpolant_argument_errors():
    with pytest.raises(ValueError, match="n_knots"):
        relu_interpolant_1d(np.sin, 0.0, 1.0, 1)
    with pytest.raises(ValueError, match="a < b"):
        relu_interpolant_1d(np.sin, 1.0, 0.0, 5)


# --- Proposition: finite-set interpolation ------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, 5, 10])
def test_zero_sobolev_loss_on_random_point_sets(dim):
    rng = np.random.default_rng(dim)
    n = 25
    x = rng.normal(size=(n, dim))
    f = 5 * rng.normal(size=n)
    g = 3 * rng.normal(size=(n, dim))
    f[0], g[1] = 0.0, 0.0  # zero targets sit on ReLU kinks unless offsets avoid them
    net = interpolating_relu_network(x, f, g)
    assert all(isinstance(m, torch.nn.Linear | torch.nn.ReLU) for m in net)
    assert sobolev_training_loss(net, x, f, g) < 1e-20
    # independent check of each point's value and gradient
    xt = torch.tensor(x, requires_grad=True)
    out = net(xt)[:, 0]
    (grad,) = torch.autograd.grad(out.sum(), xt)
    np.testing.assert_allclose(out.detach().numpy(), f, atol=1e-11)
    np.testing.assert_allclose(grad.numpy(), g, atol=1e-12)


@given(
    n=st.integers(1, 12),
    dim=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    spread=st.sampled_from([1e-3, 1.0, 1e3]),
)
@settings(deadline=None)
def test_interpolation_property(n, dim, seed, spread):
    rng = np.random.default_rng(seed)
    x = spread * rng.uniform(-1, 1, size=(n, dim))
    f = rng.normal(size=n) * 10
    g = rng.normal(size=(n, dim)) * 10
    net = interpolating_relu_network(x, f, g)
    xt = torch.tensor(x, requires_grad=True)
    out = net(xt)[:, 0]
    (grad,) = torch.autograd.grad(out.sum(), xt)
    scale = 1 + np.abs(f).max() + np.abs(g).max() * spread
    assert np.max(np.abs(out.detach().numpy() - f)) <= 1e-12 * scale * n
    assert np.max(np.abs(grad.numpy() - g)) <= 1e-12 * (1 + np.abs(g).max())


def test_interpolant_is_zero_gradient_between_far_points():
    # away from all bumps, every gated piece is clipped to 0
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    net = interpolating_relu_network(x, np.array([1.0, 2.0]), np.ones((2, 2)))
    with torch.no_grad():
        assert float(net(torch.tensor([[10.0, 10.0]], dtype=torch.float64))) == 0.0


def test_interpolation_rejects_bad_input():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="distinct"):
        interpolating_relu_network(x, np.zeros(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="gradients must have shape"):
        interpolating_relu_network(np.eye(2), np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="values must have shape"):
        interpolating_relu_network(np.eye(2), np.zeros(3), np.zeros((2, 2)))


# --- Theorem 2 ----------------------------------------------------------------------------------


def test_lower_bound_matches_hand_computation():
    # g - f' = 4 hat on [0.25, 0.75]; over [0.5 - w, 0.5 + w] the ratio is
    # 4 (w - 2 w^2) / (1 + w), maximal at w = (sqrt(6) - 2) / 2.
    def fprime(x):
        return np.zeros_like(x)

    def g(x):
        return 4 * np.maximum(0.0, 1 - np.abs(x - 0.5) / 0.25)

    w = (np.sqrt(6) - 2) / 2
    bound, s, t = coupling_lower_bound(fprime, g, 0.0, 1.0, n=2001)
    assert bound == pytest.approx(4 * (w - 2 * w**2) / (1 + w), rel=1e-5)
    assert (s, t) == pytest.approx((0.5 - w, 0.5 + w), abs=1e-3)
    assert coupling_lower_bound(fprime, fprime, 0.0, 1.0)[0] == 0.0


def test_theorem2_fits_stay_above_bound_and_consistent_fits_converge():
    demo = coupling_demo(degrees=(3, 9, 15))
    bound = demo["bound"]
    assert bound > 0.4
    for row in demo["inconsistent"]:
        assert row["max_error"] >= bound * (1 - 1e-6)
    assert demo["inconsistent"][-1]["max_error"] < 1.15 * bound  # the bound is nearly tight
    consistent = [r["max_error"] for r in demo["consistent"]]
    assert consistent[-1] < 1e-7 and consistent[0] > consistent[-1]


def test_minimax_fit_recovers_polynomial():
    def f(x):
        return 1 - 2 * x + x**3

    def fprime(x):
        return -2 + 3 * x**2

    row = minimax_fit(f, fprime, -1.0, 2.0, degree=3)
    assert row["max_error"] < 1e-8
