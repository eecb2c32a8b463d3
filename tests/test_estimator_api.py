"""SobolevRegressor: the MLPRegressor-style API (sample weights, early stopping, warm start,
fitted attributes, differential weights, projections) and its automatic defaults."""

import numpy as np
import pytest
import torch

from sobolev import _estimator_params as P
from sobolev.sklearn import SobolevRegressor

SMALL = {"hidden_layer_sizes": (16,), "max_iter": 40, "random_state": 0}


def _data(n=40, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    dy = np.stack([np.cos(X[:, 0]), 2 * X[:, 1]], axis=1)
    return X, y, dy


def test_auto_uses_dy_when_given_and_values_otherwise():
    X, y, dy = _data()
    with_dy = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    without = SobolevRegressor(**SMALL).fit(X, y)
    assert (with_dy.derivatives_, with_dy.order_) == ("given", 1)
    assert (without.derivatives_, without.order_) == ("none", 0)
    given = SobolevRegressor(derivatives="given", **SMALL).fit(X, y, dy=dy)
    np.testing.assert_array_equal(with_dy.predict(X), given.predict(X))


def test_integer_sample_weights_equal_repeated_rows():
    X, y, dy = _data(n=12)
    w = np.array([0, 1, 2, 3, 1, 0, 2, 1, 1, 3, 1, 2])
    kw = SMALL | {"dtype": "float64"}
    weighted = SobolevRegressor(**kw).fit(X, y, dy=dy, sample_weight=w)
    rep = np.repeat(np.arange(12), w)
    repeated = SobolevRegressor(**kw).fit(X[rep], y[rep], dy=dy[rep])
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.x_mean_, X[rep].mean(0), rtol=1e-12)
    np.testing.assert_allclose(weighted.y_scale_, [y[rep].std()], rtol=1e-12)


def test_all_zero_sample_weights_are_refused():
    X, y, _ = _data(n=10)
    with pytest.raises(ValueError, match="weight"):
        SobolevRegressor(**SMALL).fit(X, y, sample_weight=np.zeros(10))


def test_fitted_attributes_follow_mlpregressor():
    X, y, dy = _data(n=30)
    reg = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    assert reg.n_iter_ == 40 and reg.t_ == 40 and reg.batch_size_ == 30
    assert len(reg.loss_curve_) == 40 and reg.best_loss_ == min(reg.loss_curve_)
    assert reg.validation_scores_ is None and reg.loss_ == reg.history_["total"][-1]
    # Minibatches: an epoch is ceil(N / batch) steps and the loss curve averages them.
    mini = SobolevRegressor(**(SMALL | {"batch_size": 8, "max_iter": 3})).fit(X, y, dy=dy)
    assert mini.t_ == 12 and mini.n_iter_ == 3
    np.testing.assert_allclose(mini.loss_curve_[1], np.mean(mini.history_["total"][4:8]))


def test_early_stopping_holds_out_data_and_restores_the_best_weights():
    X, y, dy = _data(n=60)
    kw = SMALL | {"max_iter": 300, "early_stopping": True, "validation_fraction": 0.2}
    reg = SobolevRegressor(**kw).fit(X, y, dy=dy)
    h = reg.history_
    assert reg.batch_size_ == 48  # 12 of 60 held out
    assert reg.best_loss_ is None and len(reg.validation_scores_) == len(h["val"])
    assert reg.best_validation_score_ == pytest.approx(max(reg.validation_scores_))
    assert h["best_val"] == min(h["val"]) and reg.t_ == h["stopped_step"]
    assert 0 < reg.best_validation_score_ <= 1


def test_early_stopping_auto_needs_20_held_out_samples():
    X, y, dy = _data(n=300)
    big = SobolevRegressor(**(SMALL | {"max_iter": 2})).fit(X, y, dy=dy)
    assert big.validation_scores_ is not None and big.batch_size_ == 256  # of 270 kept
    at = SobolevRegressor(**SMALL).fit(X[:195], y[:195], dy=dy[:195])
    assert at.validation_scores_ is not None and at.batch_size_ == 175  # 20 held out
    below = SobolevRegressor(**SMALL).fit(X[:194], y[:194], dy=dy[:194])
    assert below.validation_scores_ is None and below.batch_size_ == 194
    # 20 of 100 with a larger fraction.
    frac = SobolevRegressor(**(SMALL | {"validation_fraction": 0.2})).fit(X[:100], y[:100])
    assert frac.validation_scores_ is not None and frac.batch_size_ == 80


@pytest.mark.parametrize("weighted", [False, True])
def test_differential_early_stopping_scores_half_values_half_scaled_derivatives(weighted):
    X, y, dy = _data(n=60, seed=3)
    w = np.random.default_rng(1).uniform(0.2, 2.0, 60) if weighted else None
    reg = SobolevRegressor(**(SMALL | {"early_stopping": True, "dtype": "float64"}))
    reg.fit(X, y, dy=dy, sample_weight=w)
    # Reference: the held-out split and lambda as the estimator draws them, the score
    # computed from the restored network by autograd (weighted means with weights).
    rng = np.random.RandomState(0)
    _, _, split_seed = rng.randint(0, 2**31 - 1, size=3)
    train, val = P.split(60, 0.1, int(split_seed))
    p_tr = np.full(len(train), 1 / len(train)) if w is None else w[train] / w[train].sum()
    p = np.full(len(val), 1 / len(val)) if w is None else w[val] / w[val].sum()
    u = (X - reg.x_mean_) / reg.x_scale_
    v = (y - reg.y_mean_[0]) / reg.y_scale_[0]
    dv = dy * reg.x_scale_ / reg.y_scale_[0]
    rms = np.sqrt(p_tr @ dv[train] ** 2)
    lam = rms**-P.LAMBDA_POWER / np.sqrt(np.mean(rms ** (2 - 2 * P.LAMBDA_POWER)))
    ut = torch.tensor(u[val], requires_grad=True)
    out = reg.model_(ut)[:, 0]
    (g,) = torch.autograd.grad(out.sum(), ut)
    value_se = (out.detach().numpy() - v[val]) ** 2
    # The network sees u; training scales each input's derivative residual by lambda_j.
    deriv_se = (((g.numpy() - dv[val]) * lam) ** 2).sum(1)
    score = p @ (0.5 * value_se + 0.5 / 2 * deriv_se)
    np.testing.assert_allclose(reg.history_["best_val"], score, rtol=1e-9)
    base = p @ (0.5 * (v[val] - p @ v[val]) ** 2 + 0.5 / 2 * ((dv[val] * lam) ** 2).sum(1))
    np.testing.assert_allclose(reg.best_validation_score_, 1 - score / base, rtol=1e-9)
    if not weighted:
        # Values only: the plain R^2 of the held-out values.
        plain = SobolevRegressor(**(SMALL | {"early_stopping": True})).fit(X, y)
        assert plain.history_["best_val"] == pytest.approx(
            (1 - plain.best_validation_score_) * np.var(v[val]), rel=1e-9
        )


def test_early_stopping_auto_is_off_from_2048_samples():
    X, y, dy = _data(n=2048)
    reg = SobolevRegressor(**(SMALL | {"max_iter": 1})).fit(X, y, dy=dy)
    assert reg.validation_scores_ is None and reg.batch_size_ == 256  # all 2048 kept
    below = SobolevRegressor(**(SMALL | {"max_iter": 1})).fit(X[:2047], y[:2047], dy=dy[:2047])
    assert below.validation_scores_ is not None


def test_warm_start_continues_from_the_previous_network():
    X, y, dy = _data(n=30)
    reg = SobolevRegressor(**(SMALL | {"warm_start": True})).fit(X, y, dy=dy)
    first = reg.model_[0].weight.detach().clone()
    cold = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    reg.fit(X, y, dy=dy)
    # A cold fit restarts from the same initial weights; the warm one does not.
    assert not torch.equal(reg.model_[0].weight, cold.model_[0].weight)
    assert reg.loss_curve_[0] < cold.loss_curve_[0]
    assert not torch.equal(first, reg.model_[0].weight)
    with pytest.raises(ValueError, match="features"):
        reg.fit(X[:, :1], y)


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_differential_weights_are_normalised_powers_of_the_rms(monkeypatch, power):
    monkeypatch.setattr(P, "LAMBDA_POWER", power)
    rng = np.random.default_rng(1)
    dv = rng.normal(size=(50, 1, 4)) * np.array([1.0, 10.0, 3.0, 0.0])
    lam, alpha = P.differential_weights(dv, None)
    rms = np.sqrt((dv[:, 0, :3] ** 2).mean(0))
    # lambda_j proportional to rms_j ** -power, and mean_j (lambda_j rms_j)^2 = 1 ...
    ratio = lam[:3] * rms**power
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert np.mean((lam[:3] * rms) ** 2) == pytest.approx(1.0, rel=1e-12)
    if power == 1.0:  # ... which at power 1 is Huge & Savine's 1 / rms_j
        np.testing.assert_allclose(lam[:3], 1 / rms, rtol=1e-12)
    assert lam[3] == 1.0 and alpha == 0.2
    # Inputs of equal scale get 1 / rms at any power.
    same = rng.normal(size=(2000, 1, 3))
    same /= np.sqrt((same**2).mean(0))
    np.testing.assert_allclose(P.differential_weights(same, None)[0], 1.0, rtol=1e-12)


def test_differential_weighting_equals_the_explicit_per_input_loss():
    # Training the scaled composition must give the same loss as the formula
    # alpha MSE(v) + (1 - alpha) mean_j MSE(lambda_j dv_j) at the initial network.
    X, y, dy = _data(n=20)
    # One step that changes nothing, so model_ is the network the first loss saw.
    kw = SMALL | {"max_iter": 1, "dtype": "float64", "learning_rate_init": 1e-300}
    init = SobolevRegressor(**kw).fit(X, y, dy=dy)
    u, v, dv, _ = init.standardizer_.transform(X, y, dy)
    lam, alpha = P.differential_weights(dv[:, None, :], None)
    ut = torch.tensor(u, requires_grad=True)
    out = init.model_(ut)[:, 0]
    (g,) = torch.autograd.grad(out.sum(), ut)
    expected = alpha * np.mean((out.detach().numpy() - v) ** 2) + (1 - alpha) * np.mean(
        (lam * (g.numpy() - dv)) ** 2
    )
    assert init.history_["total"][0] == pytest.approx(expected, rel=1e-10)


def test_projections_reach_the_loss():
    X, y, dy = _data(n=30)
    exact = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    proj = SobolevRegressor(projections=1, side="input", **SMALL).fit(X, y, dy=dy)
    assert not np.array_equal(proj.history_["order1"], exact.history_["order1"])
    # With one output, u = +-1 on the output side, so its projection is exact.
    out = SobolevRegressor(projections=1, side="output", **SMALL).fit(X, y, dy=dy)
    np.testing.assert_allclose(out.history_["order1"], exact.history_["order1"], rtol=1e-10)


@pytest.mark.parametrize(
    ("n", "batch", "per_epoch", "epochs"),
    [(20, 20, 1, 2000), (256, 256, 1, 2000), (1024, 256, 4, 500), (8192, 512, 16, 125)],
)
def test_automatic_budget(n, batch, per_epoch, epochs):
    b = P.resolve_batch_size("auto", n)
    assert b == batch and -(-n // b) == per_epoch
    assert P.resolve_epochs("auto", per_epoch) == epochs
