"""Power-law fits, samples-to-target and curve crossings (sobolev_lab.curves)."""

import math

import numpy as np
import pytest

from sobolev_lab.curves import crossing_point, fit_power_law, samples_to_reach


def test_exact_power_law_is_recovered():
    x = np.array([4.0, 8, 16, 32, 64])
    fit = fit_power_law(x, 3.0 * x**-1.5)
    assert fit.exponent == pytest.approx(1.5, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.predict(10.0) == pytest.approx(3.0 * 10**-1.5)


def test_noisy_fit_interval_covers_the_true_rate():
    rng = np.random.default_rng(0)
    x = 2.0 ** np.arange(2, 12)
    err = 5.0 * x**-0.7 * np.exp(0.1 * rng.standard_normal((4, x.size)))
    fit = fit_power_law(x, err, level=0.95)
    lo, hi = fit.exponent_ci
    assert lo < 0.7 < hi
    assert hi - lo < 0.1
    assert fit.n_obs == 40


def test_samples_to_reach_inverts_the_fit():
    x = np.array([4.0, 16, 64, 256])
    rng = np.random.default_rng(1)
    fit = fit_power_law(x, 2.0 * x**-0.5 * np.exp(0.05 * rng.standard_normal((3, 4))))
    out = samples_to_reach(fit, 0.25)
    assert out["valid"] and not out["extrapolated"]
    assert fit.predict(out["value"]) == pytest.approx(0.25)
    assert out["ci"][0] < out["value"] < out["ci"][1]
    assert out["value"] == pytest.approx(64, rel=0.2)


def test_samples_to_reach_refuses_a_rising_curve():
    x = np.array([1.0, 2, 4])
    assert samples_to_reach(fit_power_law(x, x**0.5), 0.1)["valid"] is False


def test_crossing_point_interpolates_in_log_log():
    x = np.array([1.0, 10, 100])
    err = np.array([1.0, 0.1, 0.01])
    assert crossing_point(x, err, 0.1) == pytest.approx(10.0)
    assert crossing_point(x, err, math.sqrt(0.1) * 0.1) == pytest.approx(math.sqrt(1000))
    assert crossing_point(x, err, 1e-3) is None
    assert crossing_point(x, err, 2.0) == 1.0


@pytest.mark.parametrize(
    ("x", "err", "match"),
    [
        ([1, 2, 3], [1, 0, 1], "positive"),
        ([1, 2, 3], [1, np.nan, 1], "positive"),
        ([1, 2], [1, 0.5], ">= 3"),
        ([1, 1, 1], [1, 0.5, 0.2], ">= 3"),
        ([1, 2, 3], [[1, 0.5]], "shape"),
    ],
)
def test_bad_input_is_refused(x, err, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, err)


def test_fit_matches_scipy_linregress():
    from scipy import stats

    rng = np.random.default_rng(3)
    x = np.array([8.0, 16, 32, 64, 128])
    err = 0.7 * x**-0.9 * np.exp(0.2 * rng.standard_normal((3, x.size)))
    fit = fit_power_law(x, err, level=0.9)
    ref = stats.linregress(np.log(np.tile(x, 3)), np.log(err.ravel()))
    half = stats.t.ppf(0.95, err.size - 2) * ref.stderr
    assert fit.exponent == pytest.approx(-ref.slope, rel=1e-12)
    assert fit.prefactor == pytest.approx(math.exp(ref.intercept), rel=1e-12)
    assert fit.exponent_ci == pytest.approx((-ref.slope - half, -ref.slope + half), rel=1e-12)
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-12)


def test_samples_to_reach_beyond_the_float_range_is_invalid():
    x = np.array([1.0, 10, 100])
    fit = fit_power_law(x, [1.0, 1.0 - 1e-9, 1.0 - 2e-9])
    assert samples_to_reach(fit, 1e-3) == {
        "value": None,
        "ci": None,
        "extrapolated": None,
        "valid": False,
    }
