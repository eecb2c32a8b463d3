"""Scaling of the approx targets: the Standardizer against the explicit affine maps."""

import numpy as np
import pytest

from sobolev_lab.approx.common import scaled_data, scaling_of, target_function


@pytest.mark.parametrize(("name", "dim"), [("styblinski_tang", 1), ("himmelblau", 2)])
def test_scaled_data_is_the_chain_rule_in_float64(name, dim):
    f = target_function(name, dim)
    sc = scaling_of(name, dim)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in f.domain)
    c, h = (lo + hi) / 2, (hi - lo) / 2
    np.testing.assert_array_equal(sc.center, c)
    np.testing.assert_array_equal(sc.half, h)
    x = f.sample(40, seed=7)
    u, t, dt, d2t = scaled_data(name, dim, x, order=2)
    np.testing.assert_allclose(u, (x - c) / h, rtol=1e-15)
    np.testing.assert_allclose(t, (f.value(x) - sc.mean) / sc.std, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dt, f.grad(x) * h / sc.std, rtol=1e-13)
    np.testing.assert_allclose(d2t, f.hessian(x) * np.outer(h, h) / sc.std, rtol=1e-13)
    assert scaled_data(name, dim, x, order=0)[2] is None
    assert sc.grad_sq_mean > 0 and sc.hess_sq_mean > 0


def test_scaled_targets_have_unit_spread_on_the_scaling_points():
    from scipy.stats import qmc

    f = target_function("styblinski_tang", 2)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in f.domain)
    x = lo + (hi - lo) * qmc.Sobol(d=2, scramble=True, seed=12345).random_base2(12)
    _, t, dt, _ = scaled_data("styblinski_tang", 2, x, order=1)
    assert t.mean() == pytest.approx(0.0, abs=1e-12)
    assert t.std() == pytest.approx(1.0, rel=1e-12)
    assert (dt**2).sum(1).mean() == pytest.approx(scaling_of("styblinski_tang", 2).grad_sq_mean)
