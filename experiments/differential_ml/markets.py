"""Pricing simulators with noisy, unbiased pathwise labels (Huge & Savine's setting).

Each market draws training spots ``x`` around 1, simulates one antithetic pair of
paths per spot to the option's maturity and labels the spot with the average of the
two payoffs (``y``) and of their pathwise derivatives with respect to the spot
(``dy``). Both labels are noisy, but their conditional expectations given ``x`` are
the analytic price and delta, which the test sets return instead.

* :class:`BachelierBasket`: a call on a basket of ``dim`` correlated Bachelier
  (arithmetic Brownian) assets; the basket is itself Bachelier, so its price is closed
  form.
* :class:`BlackScholes`: a call on one lognormal asset (zero rates), Black-Scholes price.

Everything is float64 numpy; a market's parameters are fixed by its ``seed`` and each
data set is drawn from its own ``seed``, so training, validation and test data never
share random numbers unless asked to.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from sobolev._validation import check_nonnegative_int, check_positive_float, check_positive_int

__all__ = ["BachelierBasket", "BlackScholes"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / _SQRT_2PI


def _check_spots(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"x must have shape (n, {dim}), got {x.shape}")
    return x


class BachelierBasket:
    """A European call on a basket of correlated Bachelier assets.

    Parameters
    ----------
    dim : int
        Number of assets ``d``.
    seed : int
        Seed of the market parameters: correlation (normalised Gram matrix of
        ``uniform(-1, 1)`` vectors), weights (``uniform(1, 10)``, normalised to sum 1)
        and volatilities (``uniform(5, 50)``, rescaled so the basket volatility is
        ``basket_vol``).
    strike, maturity, basket_vol : float
        The call's strike, time to maturity in years and the basket's (absolute,
        per square-root year) volatility.
    spread : float
        Training spots are drawn as one year of the same dynamics started at 1, with the
        volatility scaled by ``spread``, so they cover the region around the money.

    Attributes
    ----------
    weights : ndarray, shape (d,)
    vols : ndarray, shape (d,)
    corr : ndarray, shape (d, d)
    chol : ndarray, shape (d, d)
        Lower Cholesky factor of the per-year covariance ``diag(vols) corr diag(vols)``.
    """

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        *,
        strike: float = 1.10,
        maturity: float = 1.0,
        basket_vol: float = 0.2,
        spread: float = 1.5,
    ) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.seed = check_nonnegative_int(seed, "seed")
        self.strike = check_positive_float(strike, "strike")
        self.maturity = check_positive_float(maturity, "maturity")
        self.basket_vol = check_positive_float(basket_vol, "basket_vol")
        self.spread = check_positive_float(spread, "spread")
        rng = np.random.default_rng(self.seed)
        gram = rng.uniform(-1.0, 1.0, size=(self.dim, self.dim))
        cov = gram @ gram.T
        inv_sd = 1.0 / np.sqrt(np.diag(cov))
        self.corr = cov * np.outer(inv_sd, inv_sd)
        w = rng.uniform(1.0, 10.0, size=self.dim)
        self.weights = w / w.sum()
        vols = rng.uniform(5.0, 50.0, size=self.dim)
        raw = np.sqrt(self.weights @ (np.outer(vols, vols) * self.corr) @ self.weights)
        self.vols = vols * (self.basket_vol / raw)
        cov_year = np.outer(self.vols, self.vols) * self.corr
        # A tiny jitter keeps the factorisation defined when d > 1 vectors are
        # numerically dependent; it changes the covariance by ~1e-12 relative.
        jitter = 1e-12 * np.trace(cov_year) / self.dim
        self.chol = np.linalg.cholesky(cov_year + jitter * np.eye(self.dim))

    def basket(self, x: np.ndarray) -> np.ndarray:
        """Basket value ``x @ weights``; x of shape (n, d) -> (n,)."""
        return _check_spots(x, self.dim) @ self.weights

    def _moneyness(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        b = self.basket(x)
        s = self.basket_vol * np.sqrt(self.maturity)
        return b, (b - self.strike) / s, s

    def price(self, x: np.ndarray) -> np.ndarray:
        """Analytic Bachelier call price; x of shape (n, d) -> (n,)."""
        b, z, s = self._moneyness(x)
        return (b - self.strike) * ndtr(z) + s * _normal_pdf(z)

    def delta(self, x: np.ndarray) -> np.ndarray:
        """Analytic delta ``d price / d x``; x of shape (n, d) -> (n, d)."""
        _, z, _ = self._moneyness(x)
        return ndtr(z)[:, None] * self.weights[None, :]

    def labels(self, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Noisy pathwise labels at given spots, one antithetic pair of paths per spot.

        Parameters
        ----------
        x : ndarray, shape (n, d)
        seed : int

        Returns
        -------
        y : ndarray, shape (n,)
            Mean of the two payoffs ``max(basket_T - K, 0)``.
        dy : ndarray, shape (n, d)
            Mean of the two pathwise deltas ``1{basket_T > K} * weights``.
        """
        x = _check_spots(x, self.dim)
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        shock = rng.standard_normal(x.shape) @ self.chol.T * np.sqrt(self.maturity)
        b_up = (x + shock) @ self.weights
        b_dn = (x - shock) @ self.weights
        y = 0.5 * (np.maximum(b_up - self.strike, 0.0) + np.maximum(b_dn - self.strike, 0.0))
        # Indicators become floats before adding: on booleans, + is a logical OR.
        itm = 0.5 * ((b_up > self.strike).astype(np.float64) + (b_dn > self.strike).astype(float))
        return y, itm[:, None] * self.weights[None, :]

    def training_set(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` spots around 1 with their noisy labels.

        Returns
        -------
        x : ndarray, shape (n, d)
        y : ndarray, shape (n,)
        dy : ndarray, shape (n, d)
        """
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        x = 1.0 + self.spread * rng.standard_normal((n, self.dim)) @ self.chol.T
        y, dy = self.labels(x, int(rng.integers(2**63 - 1)))
        return x, y, dy

    def test_set(
        self, n: int, seed: int, lo: float = 0.5, hi: float = 1.5
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` spots whose baskets are evenly spaced on [lo, hi], with exact labels.

        Spot directions are random (one year of the dynamics from 1); each spot is then
        shifted along the all-ones vector, which moves the basket one for one because
        the weights sum to 1.

        Returns
        -------
        x : ndarray, shape (n, d)
            Sorted by basket value.
        price : ndarray, shape (n,)
        delta : ndarray, shape (n, d)
        """
        n = check_positive_int(n, "n")
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"lo < hi expected, got lo={lo!r}, hi={hi!r}")
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        x = 1.0 + rng.standard_normal((n, self.dim)) @ self.chol.T
        target = np.linspace(lo, hi, n)
        x = x + (target - x @ self.weights)[:, None]
        return x, self.price(x), self.delta(x)


class BlackScholes:
    """A European call on one lognormal asset with zero rates.

    Parameters
    ----------
    seed : int
        Kept for the same constructor shape as :class:`BachelierBasket`; the market
        has no random parameters.
    strike, maturity, vol : float
        Strike, time to maturity in years and lognormal volatility.
    spread : float
        Training spots are one year of the same dynamics from 1 with the volatility
        scaled by ``spread``.
    """

    dim = 1

    def __init__(
        self,
        seed: int = 0,
        *,
        strike: float = 1.10,
        maturity: float = 1.0,
        vol: float = 0.2,
        spread: float = 1.5,
    ) -> None:
        self.seed = check_nonnegative_int(seed, "seed")
        self.strike = check_positive_float(strike, "strike")
        self.maturity = check_positive_float(maturity, "maturity")
        self.vol = check_positive_float(vol, "vol")
        self.spread = check_positive_float(spread, "spread")
        self.weights = np.ones(1)

    def basket(self, x: np.ndarray) -> np.ndarray:
        """The spot itself; x of shape (n, 1) -> (n,)."""
        return _check_spots(x, 1)[:, 0]

    def _d1(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        s = self.basket(x)
        if np.any(s <= 0):
            raise ValueError("x must be positive for the Black-Scholes market")
        v = self.vol * np.sqrt(self.maturity)
        return s, (np.log(s / self.strike) + 0.5 * v * v) / v, v

    def price(self, x: np.ndarray) -> np.ndarray:
        """Black-Scholes call price; x of shape (n, 1) -> (n,)."""
        s, d1, v = self._d1(x)
        return s * ndtr(d1) - self.strike * ndtr(d1 - v)

    def delta(self, x: np.ndarray) -> np.ndarray:
        """Analytic delta; x of shape (n, 1) -> (n, 1)."""
        _, d1, _ = self._d1(x)
        return ndtr(d1)[:, None]

    def labels(self, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Noisy pathwise labels, one antithetic pair per spot.

        Returns
        -------
        y : ndarray, shape (n,)
            Mean of the two payoffs ``max(S_T - K, 0)``.
        dy : ndarray, shape (n, 1)
            Mean of the two pathwise deltas ``1{S_T > K} S_T / S_0``.
        """
        s0 = self.basket(x)
        if np.any(s0 <= 0):
            raise ValueError("x must be positive for the Black-Scholes market")
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        v = self.vol * np.sqrt(self.maturity)
        z = rng.standard_normal(s0.shape)
        y = np.zeros_like(s0)
        dy = np.zeros_like(s0)
        for sign in (1.0, -1.0):
            st = s0 * np.exp(-0.5 * v * v + sign * v * z)
            y += 0.5 * np.maximum(st - self.strike, 0.0)
            dy += 0.5 * (st > self.strike).astype(np.float64) * st / s0
        return y, dy[:, None]

    def training_set(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` lognormal spots around 1 with noisy labels: x (n, 1), y (n,), dy (n, 1)."""
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        v = self.spread * self.vol
        x = np.exp(-0.5 * v * v + v * rng.standard_normal((n, 1)))
        y, dy = self.labels(x, int(rng.integers(2**63 - 1)))
        return x, y, dy

    def test_set(
        self, n: int, seed: int = 0, lo: float = 0.5, hi: float = 1.5
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` spots evenly spaced on [lo, hi] with exact price (n,) and delta (n, 1).

        ``seed`` is unused (the grid is deterministic); it keeps the basket's signature.
        """
        n = check_positive_int(n, "n")
        check_nonnegative_int(seed, "seed")
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f"0 < lo < hi expected, got lo={lo!r}, hi={hi!r}")
        x = np.linspace(lo, hi, n)[:, None]
        return x, self.price(x), self.delta(x)
