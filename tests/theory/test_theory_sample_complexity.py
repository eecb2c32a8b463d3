"""Counting identifiability: rank of value-only vs value+gradient systems."""

import math

import numpy as np
import pytest

from sobolev_lab.theory.sample_complexity import (
    PRIME,
    counting_points,
    design_matrix,
    is_defective,
    minimal_points,
    monomial_exponents,
    n_coefficients,
    predicted_points,
    rank_mod_p,
    sample_complexity_table,
)


def test_monomial_count():
    for d in range(1, 5):
        for q in range(0, 5):
            exps = monomial_exponents(d, q)
            assert exps.shape == (math.comb(q + d, d), d) == (n_coefficients(d, q), d)
            assert len({tuple(e) for e in exps}) == len(exps)
            assert exps.sum(axis=1).max() == q


def test_rank_mod_p_against_fractions():
    rng = np.random.default_rng(0)
    # small integer matrices: rank over Q equals rank mod a large prime
    for _ in range(20):
        r = rng.integers(1, 5)
        m = rng.integers(-3, 4, size=(5, r)) @ rng.integers(-3, 4, size=(r, 6))
        assert rank_mod_p(m % PRIME) == np.linalg.matrix_rank(m.astype(float))


def test_design_matrix_matches_direct_evaluation():
    d, q = 2, 3
    pts = np.array([[2, 5], [3, 7]], dtype=np.int64)
    m = design_matrix(pts, d, q, gradients=True)
    exps = monomial_exponents(d, q)
    assert m.shape == (2 * (1 + d), len(exps))
    x, y = 2, 5
    values = [x**a * y**b for a, b in exps]
    dx = [a * x ** max(a - 1, 0) * y**b for a, b in exps]
    dy = [b * x**a * y ** max(b - 1, 0) for a, b in exps]
    np.testing.assert_array_equal(m[:3], np.array([values, dx, dy]) % PRIME)


def test_univariate_hermite():
    # degree q in 1-D: q + 1 values, or ceil((q + 1)/2) Hermite points
    for q in range(1, 7):
        assert minimal_points(1, q, gradients=False) == q + 1
        assert minimal_points(1, q, gradients=True) == math.ceil((q + 1) / 2)


def test_quadrics_need_d_plus_one_points():
    # (l(x))^2 for a hyperplane l through n <= d points has zero value and gradient there
    for d in (2, 3, 4):
        assert is_defective(d, 2, counting_points(d, 2, True))
        assert minimal_points(d, 2, gradients=True) == d + 1 == predicted_points(d, 2, True)


@pytest.mark.parametrize("d,q", [(2, 4), (3, 4), (4, 3), (4, 4)])
def test_sporadic_alexander_hirschowitz_cases(d, q):
    assert minimal_points(d, q, gradients=True) == counting_points(d, q, True) + 1


def test_table_small():
    rows = sample_complexity_table(dims=range(1, 5), degrees=range(1, 5))
    assert len(rows) == 16
    for r in rows:
        assert r["points_values"] == r["counting_values"] == r["n_coefficients"]
        assert r["points_values_gradients"] == r["predicted_values_gradients"]
        assert r["points_values_gradients"] >= r["counting_values_gradients"]
        assert r["exceptional"] == (r["points_values_gradients"] > r["counting_values_gradients"])
        assert r["ratio"] == r["points_values"] / r["points_values_gradients"]
    # a point carries 1 + d conditions: the ratio approaches d + 1 for large degree
    r = next(r for r in rows if (r["d"], r["q"]) == (3, 3))
    assert r["points_values_gradients"] == 5 and r["points_values"] == 20


def test_bad_arguments():
    with pytest.raises(ValueError, match="d >= 1"):
        minimal_points(0, 2, True)
