"""Market generators: the pathwise labels are unbiased and the analytic delta is the
derivative of the analytic price (float64 references)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from sobolev_lab.experiments.differential_ml.markets import BachelierBasket, BlackScholes

MARKETS = [
    pytest.param(lambda: BachelierBasket(1, seed=3), id="bachelier-d1"),
    pytest.param(lambda: BachelierBasket(7, seed=0), id="bachelier-d7"),
    pytest.param(lambda: BachelierBasket(20, seed=5), id="bachelier-d20"),
    pytest.param(lambda: BlackScholes(), id="black-scholes"),
]


def _spots(market, baskets):
    """Spots whose baskets are the given values (the test set's construction)."""
    x, _, _ = market.test_set(len(baskets), seed=11, lo=min(baskets), hi=max(baskets))
    return x


@pytest.mark.parametrize("make", MARKETS)
@pytest.mark.parametrize("basket", [0.8, 1.1, 1.4])
def test_pathwise_labels_average_to_price_and_delta(make, basket):
    market = make()
    x0 = _spots(market, [basket, basket + 0.01])[:1]
    n = 200_000
    y, dy = market.labels(np.repeat(x0, n, axis=0), seed=7)
    se_y = y.std(ddof=1) / np.sqrt(n)
    assert abs(y.mean() - market.price(x0)[0]) < 4 * se_y + 1e-12
    se_dy = dy.std(axis=0, ddof=1) / np.sqrt(n)
    err = np.abs(dy.mean(axis=0) - market.delta(x0)[0])
    assert np.all(err < 4 * se_dy + 1e-12)


def test_deep_in_the_money_delta_is_not_halved():
    # Both antithetic paths end in the money: the averaged indicator must be 1, not 0.5
    # (on boolean arrays numpy's + is a logical OR, NOTES.md).
    market = BachelierBasket(7, seed=0)
    x0 = _spots(market, [3.0, 3.01])[:1]
    _, dy = market.labels(np.repeat(x0, 1000, axis=0), seed=1)
    np.testing.assert_allclose(dy, np.broadcast_to(market.weights, dy.shape), rtol=0, atol=0)
    _, dy_bs = BlackScholes().labels(np.full((1000, 1), 3.0), seed=1)
    assert dy_bs.mean() > 0.99


@pytest.mark.parametrize("make", MARKETS)
def test_delta_matches_central_differences_of_price(make):
    market = make()
    x, _, delta = market.test_set(64, seed=2)
    h = 1e-6
    fd = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        fd[:, j] = (market.price(x + e) - market.price(x - e)) / (2 * h)
    np.testing.assert_allclose(delta, fd, rtol=1e-6, atol=1e-9)


def test_bachelier_price_against_independent_formula():
    market = BachelierBasket(7, seed=0)
    x, price, _ = market.test_set(50, seed=0)
    b = x @ market.weights
    # Basket variance from the asset covariance, not the stored basket_vol.
    cov = np.outer(market.vols, market.vols) * market.corr
    s = np.sqrt(market.weights @ cov @ market.weights * market.maturity)
    d = (b - market.strike) / s
    np.testing.assert_allclose(price, (b - market.strike) * norm.cdf(d) + s * norm.pdf(d))
    np.testing.assert_allclose(s, 0.2, rtol=1e-9)


def test_bachelier_market_construction():
    market = BachelierBasket(20, seed=4)
    np.testing.assert_allclose(market.weights.sum(), 1.0)
    assert np.all(market.weights > 0)
    np.testing.assert_allclose(np.diag(market.corr), 1.0)
    assert np.all(np.linalg.eigvalsh(market.corr) > -1e-12)
    np.testing.assert_allclose(market.corr, market.corr.T)
    x, price, delta = market.test_set(101, seed=0)
    np.testing.assert_allclose(x @ market.weights, np.linspace(0.5, 1.5, 101))
    assert price.shape == (101,) and delta.shape == (101, 20)
    other = BachelierBasket(20, seed=5)
    assert not np.allclose(market.weights, other.weights)


def test_training_set_shapes_seeds_and_spread():
    market = BachelierBasket(7, seed=0)
    x, y, dy = market.training_set(4096, seed=1)
    assert x.shape == (4096, 7) and y.shape == (4096,) and dy.shape == (4096, 7)
    assert x.dtype == np.float64
    # Spots: one year of 1.5x the dynamics from 1, so the basket's sd is 1.5 * 0.2.
    b = x @ market.weights
    assert abs(b.mean() - 1.0) < 0.03 and abs(b.std() - 0.3) < 0.02
    x2, y2, _ = market.training_set(4096, seed=1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _, _ = market.training_set(4096, seed=2)
    assert not np.allclose(x, x3)


def test_black_scholes_against_put_call_parity_and_shapes():
    market = BlackScholes(vol=0.3, strike=1.0)
    x, price, delta = market.test_set(9, lo=0.6, hi=1.4)
    s = x[:, 0]
    v = 0.3
    d1 = (np.log(s) + 0.5 * v * v) / v
    put = norm.cdf(-(d1 - v)) - s * norm.cdf(-d1)
    np.testing.assert_allclose(price - put, s - 1.0, atol=1e-12)
    assert delta.shape == (9, 1)
    xt, yt, dyt = market.training_set(100, seed=0)
    assert xt.shape == (100, 1) and yt.shape == (100,) and dyt.shape == (100, 1)
    assert np.all(xt > 0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: BachelierBasket(0), "dim"),
        (lambda: BachelierBasket(True), "dim"),
        (lambda: BachelierBasket(3, seed=-1), "seed"),
        (lambda: BachelierBasket(3, strike=0.0), "strike"),
        (lambda: BachelierBasket(3).training_set(0, seed=0), "n"),
        (lambda: BachelierBasket(3).price(np.ones((4, 2))), "x must have shape"),
        (lambda: BlackScholes(vol=-1.0), "vol"),
        (lambda: BlackScholes().price(np.zeros((2, 1))), "positive"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
