"""Peer adapters on a tiny 2-D problem, against the exact function and gradient."""

import math

import numpy as np
import pytest

from sobolev_lab import peers
from sobolev_lab.protocol import Budget, grid, kfold, select

pytest.importorskip("smt")


def f(x):
    return x[:, 0] ** 2 + 0.5 * x[:, 1] ** 2 + x[:, 0] * x[:, 1] + 0.3 * x[:, 0]


def grad(x):
    return np.stack([2 * x[:, 0] + x[:, 1] + 0.3, x[:, 1] + x[:, 0]], 1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (20, 2))
    xt = rng.uniform(-1, 1, (300, 2))
    return x, f(x), grad(x), xt


def _errors(peer, xt):
    """Relative MSE of values and of gradients (1 is no better than a constant)."""
    ev = np.mean((peer.predict(xt) - f(xt)) ** 2) / np.var(f(xt))
    g = grad(xt)
    eg = np.mean(((peer.predict_gradients(xt) - g) ** 2).sum(1)) / np.mean(
        ((g - g.mean(0)) ** 2).sum(1)
    )
    return ev, eg


def _small_sobolev():
    from sobolev.sklearn import SobolevRegressor

    # SobolevRegressor's parameters are being renamed to MLPRegressor's (in the working
    # tree, not yet committed, on 2026-12-01); drop the second branch once that lands.
    if "max_iter" in SobolevRegressor().get_params():
        small = {"hidden_layer_sizes": (16, 16), "max_iter": 150, "batch_size": 20}
        return peers.Sobolev(**small, learning_rate_init=1e-2, activation="tanh")
    return peers.Sobolev(hidden=(16, 16), max_steps=150, lr=1e-2, activation="tanh")


# Bounds are loose (measured here, values / gradients: KRG 6e-8 / 1e-7, GEKPLS 8e-8 / 7e-7,
# GENN 6e-4 / 2e-3, MLP 0.10 / 0.19, Sobolev 1.4e-2 / 1.9e-2, then 9e-2 / 0.14 after
# SobolevRegressor's defaults changed) but a sign, scaling or axis slip fails them.
CASES = {
    "KRG": (lambda: peers.KRG(), 1e-3, 1e-2),
    "GEKPLS": (lambda: peers.GEKPLS(), 1e-3, 1e-2),
    "GENN": (lambda: peers.GENN(seed=0), 0.3, 0.05),
    "MLP": (lambda: peers.MLP(hidden_layer_sizes=(32, 32), activation="tanh"), 0.5, 0.6),
    # SobolevRegressor's own accuracy is tested with the library; here the wiring, and
    # test_network_gradients_match_their_values checks the gradient scaling exactly.
    "Sobolev": (lambda: _small_sobolev(), 0.3, 0.3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_adapter_fits_a_quadratic(name, data, capsys):
    make, tol_v, tol_g = CASES[name]
    x, y, dy, xt = data
    peer = make().fit(x, y, dy)
    ev, eg = _errors(peer, xt)
    assert ev < tol_v and eg < tol_g, (ev, eg)
    assert peer.predict(xt).shape == (300,) and peer.predict_gradients(xt).shape == (300, 2)
    assert peer.fit_seconds_ > 0
    assert peer.uses_gradients == (name in ("GEKPLS", "GENN", "Sobolev"))
    assert capsys.readouterr().out == ""  # SMT's printouts are captured
    if name in ("KRG", "GEKPLS"):
        assert peer.likelihood_failures_ >= 0


def _finite_differences(peer, xt, h=1e-6):
    return np.stack(
        [(peer.predict(xt + h * e) - peer.predict(xt - h * e)) / (2 * h) for e in np.eye(2)], 1
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: peers.MLP(hidden_layer_sizes=(8, 5), activation="relu", max_iter=200),
        lambda: peers.MLP(hidden_layer_sizes=(8, 5), activation="tanh", max_iter=200),
        lambda: peers.MLP(hidden_layer_sizes=(8, 5), activation="logistic", max_iter=200),
        lambda: _small_sobolev(),
    ],
)
def test_network_gradients_match_their_values(make, data):
    x, y, dy, xt = data
    peer = make().fit(x, y, dy)
    np.testing.assert_allclose(
        peer.predict_gradients(xt), _finite_differences(peer, xt), rtol=1e-5, atol=1e-6
    )


def test_kriging_refuses_sizes_beyond_max_rows(data):
    x, y, dy, _ = data
    assert peers.KRG().max_rows == 1000
    with pytest.raises(ValueError, match="max_rows = 10"):
        peers.KRG(max_rows=10).fit(x, y)
    gek = peers.GEKPLS(max_rows=50)
    assert gek.rows(20, 2) == 60 and peers.GEKPLS(extra_points=1).rows(20, 2) == 40
    with pytest.raises(ValueError, match="60 kriging rows, over max_rows = 50"):
        gek.fit(x, y, dy)
    with pytest.raises(ValueError, match="n_comp"):
        peers.GEKPLS().fit(x[:, :1], y, dy[:, :1])
    with pytest.raises(ValueError, match="max_rows"):
        peers.KRG(max_rows=0)


def test_interface_errors(data):
    x, y, dy, xt = data
    with pytest.raises(ValueError, match="dy of shape"):
        peers.GENN().fit(x, y)
    with pytest.raises(ValueError, match="not fitted"):
        peers.KRG().predict(xt)
    with pytest.raises(ValueError, match="y must have shape"):
        peers.MLP().fit(x, y[:5])
    with pytest.raises(ValueError, match="dy must have shape"):
        peers.GENN().fit(x, y, dy[:, :1])
    with pytest.raises(ValueError, match="finite"):
        peers.MLP().fit(x, np.where(np.arange(20) == 3, np.nan, y))
    fitted = peers.MLP(max_iter=50).fit(x, y)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        fitted.predict(xt[:, :1])


def test_genn_tuned_by_cross_validation_with_an_equal_budget(data):
    x, y, dy, _ = data
    candidates = Budget(2).subsample(grid(**peers.GENN_GRID), seed=0)
    score = peers.cv_scorer(lambda c: peers.GENN(seed=0, num_iterations=200, **c), x, y, dy)
    sel = select(candidates, score, kfold(20, 2, seed=0))
    assert sel.chosen in candidates
    assert all(math.isfinite(s) for s in sel.scores)
    # The score is the held-out value MSE of a fit on the other fold, recomputed here.
    tr, va = kfold(20, 2, seed=0)[1]
    peer = peers.GENN(seed=0, num_iterations=200, **candidates[0]).fit(x[tr], y[tr], dy[tr])
    assert sel.fold_scores[0, 1] == pytest.approx(np.mean((peer.predict(x[va]) - y[va]) ** 2))
