"""SobolevRegressor.partial_fit: one epoch per call, state carried over between calls."""

import copy
import pickle

import numpy as np
import pytest

from sobolev.sklearn import SobolevRegressor

SMALL = {"hidden_layer_sizes": (16,), "random_state": 0, "dtype": "float64"}


def _data(n=60, seed=0, shift=0.0):
    """y = sin(x0) + x1^2 on [-1, 1]^2 (plus ``shift`` in both inputs), exact dy."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2)) + shift
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    dy = np.stack([np.cos(X[:, 0]), 2 * X[:, 1]], axis=1)
    return X, y, dy


def test_repeated_calls_lower_the_training_loss_and_count_epochs():
    X, y, dy = _data()
    reg = SobolevRegressor(**SMALL)
    for _ in range(120):
        assert reg.partial_fit(X, y, dy=dy) is reg
    assert reg.n_iter_ == 120 and reg.t_ == 120 and len(reg.loss_curve_) == 120
    curve = np.array(reg.loss_curve_)
    assert curve[-1] < 0.05 * curve[0]
    assert curve[60:].mean() < curve[:60].mean()
    assert (reg.derivatives_, reg.order_) == ("given", 1)
    assert reg.best_loss_ == min(reg.loss_curve_) and reg.validation_scores_ is None
    assert len(reg.history_["order1"]) == 120 and reg.loss_ == reg.history_["total"][-1]


@pytest.mark.parametrize(
    "extra",
    [
        {},  # full batch
        {"weights": "auto"},
        {"derivatives": "none"},
        {"batch_size": 25, "shuffle": False},  # minibatches 25, 25, 10
    ],
)
def test_k_calls_equal_a_constant_rate_fit_of_k_epochs(extra):
    X, y, dy = _data()
    k = 6
    kw = SMALL | extra
    fit = SobolevRegressor(max_iter=k, schedule="constant", early_stopping=False, **kw)
    fit.fit(X, y, dy=dy)
    part = SobolevRegressor(**kw)
    for _ in range(k):
        part.partial_fit(X, y, dy=dy)
    assert (part.n_iter_, part.t_) == (fit.n_iter_, fit.t_)
    np.testing.assert_allclose(part.loss_curve_, fit.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(part.predict(X), fit.predict(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        part.predict_gradient(X), fit.predict_gradient(X), rtol=1e-12, atol=1e-14
    )


def test_first_call_fixes_the_standardisation():
    X, y, dy = _data()
    reg = SobolevRegressor(**SMALL).partial_fit(X, y, dy=dy)
    mean, scale = reg.x_mean_.copy(), reg.x_scale_.copy()
    y_mean, y_scale = reg.y_mean_.copy(), reg.y_scale_.copy()
    before = reg.predict(X)
    X2, y2, dy2 = _data(seed=1, shift=3.0)
    reg.partial_fit(X2, y2 + 10.0, dy=dy2)
    np.testing.assert_array_equal(reg.x_mean_, mean)
    np.testing.assert_array_equal(reg.x_scale_, scale)
    np.testing.assert_array_equal(reg.y_mean_, y_mean)
    np.testing.assert_array_equal(reg.y_scale_, y_scale)
    assert not np.allclose(reg.predict(X), before)  # but the network did train
    assert reg.n_iter_ == 2


def test_calls_are_reproducible_and_shuffle_changes_minibatch_training():
    X, y, dy = _data(n=90)
    runs = []
    for shuffle in (True, True, False):
        reg = SobolevRegressor(batch_size=20, shuffle=shuffle, **SMALL)
        for _ in range(3):
            reg.partial_fit(X, y, dy=dy)
        assert reg.t_ == 15  # ceil(90 / 20) steps per call, every sample once
        runs.append(reg.predict(X))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_integer_sample_weights_equal_repeated_rows():
    X, y, dy = _data(n=12)
    w = np.array([0, 1, 2, 3, 1, 0, 2, 1, 1, 3, 1, 2])
    rep = np.repeat(np.arange(12), w)
    weighted, repeated = SobolevRegressor(**SMALL), SobolevRegressor(**SMALL)
    for _ in range(5):
        weighted.partial_fit(X, y, dy=dy, sample_weight=w)
        repeated.partial_fit(X[rep], y[rep], dy=dy[rep])
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.x_mean_, X[rep].mean(0), rtol=1e-12)
    assert not np.allclose(
        weighted.predict(X), SobolevRegressor(**SMALL).partial_fit(X, y, dy=dy).predict(X)
    )


def test_values_only_and_multi_output():
    X, y, dy = _data()
    plain = SobolevRegressor(derivatives="none", **SMALL)
    for _ in range(3):
        plain.partial_fit(X, y, dy=dy)  # "none" ignores dy
    assert (plain.derivatives_, plain.order_) == ("none", 0)
    assert sorted(plain.history_) == ["lr", "order0", "total"]
    auto = SobolevRegressor(**SMALL).partial_fit(X, y)
    assert (auto.derivatives_, auto.order_) == ("none", 0)
    Y = np.stack([y, X[:, 0] * X[:, 1]], axis=1)
    J = np.stack([dy, np.stack([X[:, 1], X[:, 0]], axis=1)], axis=1)
    multi = SobolevRegressor(**SMALL).partial_fit(X, Y, dy=J).partial_fit(X, Y, dy=J)
    assert multi.predict(X).shape == (60, 2) and multi.predict_gradient(X).shape == (60, 2, 2)
    with pytest.raises(ValueError, match="m = 2"):
        multi.partial_fit(X, y, dy=dy)


def test_later_calls_need_the_first_calls_width_and_derivatives():
    X, y, dy = _data()
    reg = SobolevRegressor(**SMALL).partial_fit(X, y, dy=dy)
    with pytest.raises(ValueError, match=r"X has 1 features.*expecting 2"):
        reg.partial_fit(X[:, :1], y)
    with pytest.raises(ValueError, match="pass dy to every call or to none"):
        reg.partial_fit(X, y)
    plain = SobolevRegressor(**SMALL).partial_fit(X, y)
    with pytest.raises(ValueError, match="pass dy to every call or to none"):
        plain.partial_fit(X, y, dy=dy)
    assert reg.n_iter_ == plain.n_iter_ == 1  # refused calls train nothing


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"early_stopping": True}, "early_stopping=True"),
        ({"derivatives": "estimate"}, "estimate"),
        ({"order": 2, "weights": None}, "d2y"),
        ({"derivatives": "given"}, r"partial_fit\(X, y, dy=\.\.\.\)"),
        ({"shuffle": "yes"}, "shuffle"),
    ],
)
def test_refused_settings_raise_before_training(params, match):
    X, y, dy = _data(n=10)
    reg = SobolevRegressor(**(SMALL | params))
    with pytest.raises(ValueError, match=match):
        reg.partial_fit(X, y, dy=None if params.get("derivatives") == "given" else dy)
    assert not hasattr(reg, "model_")


def test_early_stopping_auto_is_off_and_holds_nothing_out():
    X, y, dy = _data(n=300)
    reg = SobolevRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, dy=dy)
    assert reg.batch_size_ == 256 and reg.t_ == 2  # all 300 samples: 256 + 44
    assert reg.validation_scores_ is None


def test_optimiser_state_survives_pickling_and_deepcopy():
    X, y, dy = _data()
    reg = SobolevRegressor(**SMALL)
    for _ in range(3):
        reg.partial_fit(X, y, dy=dy)
    blob = pickle.dumps(reg)
    assert b"torch.nn" not in blob and b"torch.optim" not in blob
    back, twin = pickle.loads(blob), copy.deepcopy(reg)
    for est in (reg, back, twin):
        est.partial_fit(X, y, dy=dy)
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    np.testing.assert_array_equal(twin.predict(X), reg.predict(X))
    # A fresh Adam (lost moments) would not continue the same way.
    fresh = pickle.loads(blob)
    fresh._optimizer = None
    assert not np.allclose(fresh.partial_fit(X, y, dy=dy).predict(X), reg.predict(X))


def test_partial_fit_continues_fit_and_fit_starts_over():
    X, y, dy = _data()
    kw = SMALL | {"max_iter": 5}
    reg = SobolevRegressor(**kw).fit(X, y, dy=dy)
    mean, before = reg.x_mean_.copy(), reg.predict(X)
    reg.partial_fit(X[:30] + 1.0, y[:30], dy=dy[:30])
    assert reg.n_iter_ == 6 and len(reg.loss_curve_) == 6 and reg.t_ == 6
    np.testing.assert_array_equal(reg.x_mean_, mean)
    assert not np.allclose(reg.predict(X), before)
    reg.fit(X, y, dy=dy)  # a cold fit forgets the partial_fit state
    assert reg.n_iter_ == 5 and reg._optimizer is None
    np.testing.assert_array_equal(reg.predict(X), before)
