"""Nearest-neighbour least-squares gradient estimates (sobolev.estimate)."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sobolev.estimate import default_n_neighbors, estimate_gradients


def _affine(n, d, m, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, d))
    A = rng.normal(size=(m, d))
    b = rng.normal(size=m)
    return X, X @ A.T + b, A


def test_affine_gradient_is_exact_single_output():
    X, Y, A = _affine(60, 3, 1)
    G = estimate_gradients(X, Y[:, 0])
    assert G.shape == (60, 3) and G.dtype == np.float64
    np.testing.assert_allclose(G, np.broadcast_to(A[0], G.shape), rtol=0, atol=1e-10)


def test_affine_jacobian_is_exact_multi_output():
    X, Y, A = _affine(80, 4, 3, seed=1)
    G = estimate_gradients(X, Y, n_neighbors=10)
    assert G.shape == (80, 3, 4)
    np.testing.assert_allclose(G, np.broadcast_to(A, G.shape), rtol=0, atol=1e-10)


@given(
    d=st.integers(1, 4),
    m=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-2, 1e2),
)
def test_affine_exact_for_any_scale(d, m, seed, scale):
    X, Y, A = _affine(30, d, m, seed=seed)
    G = estimate_gradients(scale * X, Y)
    np.testing.assert_allclose(G, np.broadcast_to(A / scale, G.shape), rtol=1e-8, atol=1e-10)


def test_duplicate_points_still_exact_and_finite():
    X, Y, A = _affine(40, 2, 1, seed=2)
    X2, y2 = np.vstack([X, X[:10]]), np.concatenate([Y[:, 0], Y[:10, 0]])
    G = estimate_gradients(X2, y2)
    assert np.isfinite(G).all()
    np.testing.assert_allclose(G, np.broadcast_to(A[0], G.shape), rtol=0, atol=1e-10)


def test_too_few_neighbours_gives_minimum_norm_projection():
    # One neighbour in 2-D: only the component along the neighbour offset is known.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    a = np.array([2.0, -3.0])
    G = estimate_gradients(X, X @ a, n_neighbors=1)
    np.testing.assert_allclose(G[0], [2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(G[1], [2.0, 0.0], atol=1e-12)


def test_smooth_function_error_decreases_with_density():
    def f(X):
        return np.sin(X[:, 0]) * np.cos(2 * X[:, 1])

    def grad(X):
        return np.stack(
            [np.cos(X[:, 0]) * np.cos(2 * X[:, 1]), -2 * np.sin(X[:, 0]) * np.sin(2 * X[:, 1])],
            axis=1,
        )

    rng = np.random.default_rng(3)
    errors = []
    for n in (100, 400, 1600, 6400):
        X = rng.uniform(-2, 2, size=(n, 2))
        G = estimate_gradients(X, f(X))
        errors.append(np.sqrt(np.mean((G - grad(X)) ** 2)))
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.3 * errors[0], errors


def test_one_dimensional_central_estimate_on_a_grid():
    # On an even grid with 2 neighbours, least squares is the central difference.
    x = np.linspace(0, 1, 11)[:, None]
    G = estimate_gradients(x, x[:, 0] ** 2, n_neighbors=2)
    np.testing.assert_allclose(G[1:-1, 0], 2 * x[1:-1, 0], atol=1e-12)


def test_default_n_neighbors():
    assert default_n_neighbors(100, 2) == 5
    assert default_n_neighbors(4, 3) == 3
    assert default_n_neighbors(2, 10) == 1


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "name"),
    [
        (np.zeros(5), np.zeros(5), {}, "X"),
        (np.zeros((1, 2)), np.zeros(1), {}, "X"),
        (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 0.0]]), np.zeros(3), {}, "X"),
        (np.array([["a", "b"], ["c", "d"]]), np.zeros(2), {}, "X"),
        (np.zeros((3, 0)), np.zeros(3), {}, "X"),
        (np.eye(3), np.zeros(4), {}, "y"),
        (np.eye(3), np.zeros((3, 1, 1)), {}, "y"),
        (np.eye(3), np.array([0.0, np.inf, 1.0]), {}, "y"),
        (np.eye(3), np.zeros(3), {"n_neighbors": 0}, "n_neighbors"),
        (np.eye(3), np.zeros(3), {"n_neighbors": 3}, "n_neighbors"),
        (np.eye(3), np.zeros(3), {"n_neighbors": 1.5}, "n_neighbors"),
        (np.eye(3), np.zeros(3), {"n_neighbors": True}, "n_neighbors"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(X, y, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        estimate_gradients(X, y, **kwargs)


def test_sparse_input_rejected():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match="^X"):
        estimate_gradients(sparse.eye(3, format="csr"), np.zeros(3))
