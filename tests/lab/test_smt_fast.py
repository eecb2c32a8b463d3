"""The vectorised kriging-derivative helpers against SMT's own loops."""

import numpy as np
import pytest

pytest.importorskip("smt")

from smt.surrogate_models import GEKPLS, KRG
from smt.surrogate_models.krg_based import distances

from sobolev_lab._smt_fast import (
    comp_dist_derivative,
    componentwise_distance_pls,
    fast_kriging_derivatives,
)


@pytest.fixture
def D():
    D = np.random.default_rng(0).normal(size=(40, 3))
    D[::7, 1] = 0.0  # SMT's sign convention at 0 is +1
    return D


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_comp_dist_derivative_matches_smt(D, power):
    np.testing.assert_allclose(
        comp_dist_derivative(D, power), distances._comp_dist_derivative(D, power), rtol=1e-14
    )


@pytest.mark.parametrize("corr", ["squar_exp", "pow_exp", "abs_exp"])
@pytest.mark.parametrize("n_comp", [1, 2])
def test_pls_distance_derivative_matches_smt(D, corr, n_comp):
    rng = np.random.default_rng(1)
    coeff, theta = rng.normal(size=(3, n_comp)), rng.uniform(0.1, 2.0, size=n_comp)
    smt = distances.componentwise_distance_PLS
    fast = componentwise_distance_pls(smt)
    for deriv in (False, True):
        kw = {"power": 1.7, "theta": theta, "return_derivative": deriv}
        np.testing.assert_allclose(
            fast(D, corr, n_comp, coeff, **kw), smt(D, corr, n_comp, coeff, **kw), rtol=1e-13
        )


@pytest.mark.parametrize("kind", ["GEKPLS", "KRG"])
def test_models_predict_the_same_gradients_and_restore_smt(kind):
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(15, 3))
    y = (np.sin(X) ** 2).sum(1, keepdims=True)
    dy = 2 * np.sin(X) * np.cos(X)
    model = GEKPLS(print_global=False, n_comp=2) if kind == "GEKPLS" else KRG(print_global=False)
    model.set_training_values(X, y)
    if isinstance(model, GEKPLS):
        for i in range(3):
            model.set_training_derivatives(X, dy[:, i : i + 1], i)
    model.train()
    Xt = rng.uniform(-1, 1, size=(30, 3))
    slow = [model.predict_derivatives(Xt, i) for i in range(3)]
    original = distances._comp_dist_derivative
    with fast_kriging_derivatives():
        assert distances._comp_dist_derivative is not original
        fast = [model.predict_derivatives(Xt, i) for i in range(3)]
    assert distances._comp_dist_derivative is original
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
