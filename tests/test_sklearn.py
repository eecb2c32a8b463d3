"""SobolevRegressor: scikit-learn API compliance, scaling, derivatives, pickling."""

import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sobolev as sb
from sobolev._training import minibatches
from sobolev.estimate import estimate_gradients
from sobolev.sklearn import SobolevRegressor

SMALL = {"hidden_layer_sizes": (16,), "max_iter": 50, "random_state": 0}


# The default estimator, with no arguments: derivatives="auto" trains on values when
# fit(X, y) gets no dy. "estimate" adds the neighbour-estimated gradients path.
def _expected_failures(estimator):
    if estimator.derivatives == "estimate":
        # A repeated row is an extra nearest neighbour of itself, so the estimated
        # gradients differ from those of a weighted row; weights stay exact in the loss.
        # partial_fit refuses "estimate" (per-chunk estimates depend on the chunking);
        # these checks call it. The default estimator runs them.
        refused = "partial_fit refuses derivatives='estimate'"
        return {
            "check_sample_weight_equivalence_on_dense_data": "neighbour estimates",
            "check_fit_score_takes_y": refused,
            "check_n_features_in_after_fitting": refused,
            "check_estimators_partial_fit_n_features": refused,
        }
    return {}


@parametrize_with_checks(
    [SobolevRegressor(), SobolevRegressor(derivatives="estimate", **SMALL)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- data ---------------------------------------------------------------------------
def _sin_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    return X, np.sin(X[:, 0]), np.cos(X)


def _quadratic(X):
    """Two outputs in 2-D: values (N, 2) and Jacobians (N, 2, 2)."""
    x0, x1 = X[:, 0], X[:, 1]
    Y = np.stack([x0**2 + x1, x0 * x1], axis=1)
    J = np.stack([np.stack([2 * x0, np.ones_like(x0)], axis=1), np.stack([x1, x0], axis=1)], axis=1)
    return Y, J


def _affine_data(n=30, seed=0):
    """Inputs and outputs far from zero mean and unit scale, so scaling matters."""
    rng = np.random.default_rng(seed)
    X = 1000.0 + rng.normal(size=(n, 3)) * np.array([50.0, 0.01, 3.0])
    A = np.array([[2.0, -300.0, 0.5], [-0.01, 40.0, 7.0]])
    b = np.array([5e3, -20.0])
    return X, X @ A.T + b, A


# -- derivatives learnt -------------------------------------------------------------
def test_exact_gradients_learn_the_derivative_of_sin():
    X, y, dy = _sin_data()
    Xt = np.linspace(-2.8, 2.8, 100)[:, None]
    kw = {"hidden_layer_sizes": (64, 64), "activation": "tanh", "max_iter": 500}
    kw |= {"learning_rate_init": 1e-3, "dtype": "float64", "random_state": 0, "weights": None}
    reg = SobolevRegressor(derivatives="given", **kw).fit(X, y, dy=dy)
    plain = SobolevRegressor(derivatives="none", **kw).fit(X, y)
    grad = reg.predict_gradient(Xt)
    assert grad.shape == (100, 1)
    err = np.sqrt(np.mean((grad[:, 0] - np.cos(Xt[:, 0])) ** 2))
    err_plain = np.sqrt(np.mean((plain.predict_gradient(Xt)[:, 0] - np.cos(Xt[:, 0])) ** 2))
    assert err < 0.05
    assert err < err_plain
    assert np.sqrt(np.mean((reg.predict(Xt) - np.sin(Xt[:, 0])) ** 2)) < 0.02


def test_exact_jacobians_of_a_multi_output_quadratic():
    rng = np.random.default_rng(1)
    X, Xt = rng.uniform(-1, 1, size=(60, 2)), rng.uniform(-0.9, 0.9, size=(100, 2))
    Y, J = _quadratic(X)
    reg = SobolevRegressor(
        hidden_layer_sizes=(64, 64), activation="tanh", max_iter=500, random_state=0,
    ).fit(X, Y, dy=J)  # fmt: skip
    Yt, Jt = _quadratic(Xt)
    assert reg.predict(Xt).shape == (100, 2)
    assert reg.predict_gradient(Xt).shape == (100, 2, 2)
    assert np.sqrt(np.mean((reg.predict_gradient(Xt) - Jt) ** 2)) < 0.1
    assert reg.score(Xt, Yt) > 0.99


# -- scaling --------------------------------------------------------------------------
def test_scaling_round_trip_is_exact_for_an_exact_linear_model():
    X, Y, A = _affine_data()
    b = Y[0] - A @ X[0]
    reg = SobolevRegressor(hidden_layer_sizes=(), max_iter=1, dtype="float64", random_state=0)
    reg.fit(X, Y, dy=np.broadcast_to(A, (30, 2, 3)))
    # Put the exact affine map, expressed on the standardised scale, into the network.
    layer = reg.model_[0]
    W = A * reg.x_scale_[None, :] / reg.y_scale_[:, None]
    c = (A @ reg.x_mean_ + b - reg.y_mean_) / reg.y_scale_
    layer.weight.data[:] = torch.from_numpy(W)
    layer.bias.data[:] = torch.from_numpy(c)
    Xt = X + 1.0
    np.testing.assert_allclose(reg.predict(Xt), Xt @ A.T + b, rtol=1e-12)
    np.testing.assert_allclose(reg.predict_gradient(Xt), np.broadcast_to(A, (30, 2, 3)), rtol=1e-12)


def test_training_on_affine_data_recovers_values_and_gradients_in_original_units():
    # A wrong chain-rule factor for dy would make values and gradients inconsistent
    # on the standardised scale, and a linear model could not fit both.
    X, Y, A = _affine_data()
    reg = SobolevRegressor(
        hidden_layer_sizes=(), max_iter=800, learning_rate_init=0.05, dtype="float64",
        random_state=0, weights=None,
    ).fit(X, Y, dy=np.broadcast_to(A, (30, 2, 3)))  # fmt: skip
    assert reg.loss_ < 1e-10
    np.testing.assert_allclose(reg.predict_gradient(X), np.broadcast_to(A, (30, 2, 3)), rtol=1e-4)
    np.testing.assert_allclose(reg.predict(X), Y, rtol=1e-6)


def test_estimated_gradients_are_reported_in_original_units():
    X, Y, A = _affine_data(n=40, seed=3)
    reg = SobolevRegressor(derivatives="estimate", **SMALL).fit(X, Y)
    np.testing.assert_allclose(reg.estimated_gradients_, np.broadcast_to(A, (40, 2, 3)), rtol=1e-8)
    assert reg.n_neighbors_ == 7


def test_estimate_uses_standardised_inputs_for_neighbours():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(50, 2)) * np.array([1000.0, 0.001])
    y = np.sin(X[:, 0] / 500) + np.cos(X[:, 1] * 2000)
    reg = SobolevRegressor(derivatives="estimate", n_neighbors=4, **SMALL).fit(X, y)
    xs = (X - X.mean(0)) / X.std(0)
    ys = (y - y.mean()) / y.std()
    expected = estimate_gradients(xs, ys, n_neighbors=4) * y.std() / X.std(0)
    np.testing.assert_allclose(reg.estimated_gradients_[:, 0], expected, rtol=1e-10)


def test_single_column_y_keeps_its_shape():
    X, y, dy = _sin_data(n=20)
    reg = SobolevRegressor(**SMALL).fit(X, y[:, None], dy=dy[:, None, :])
    assert reg.predict(X).shape == (20, 1)
    assert reg.predict_gradient(X).shape == (20, 1, 1)
    flat = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    np.testing.assert_allclose(flat.predict(X), reg.predict(X)[:, 0], rtol=1e-12)


def test_constant_feature_and_constant_target_do_not_divide_by_zero():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.normal(size=30), np.full(30, 7.0)])
    reg = SobolevRegressor(derivatives="estimate", **SMALL).fit(X, np.full(30, 3.0))
    assert reg.x_scale_[1] == 1.0 and reg.y_scale_[0] == 1.0
    assert np.isfinite(reg.predict(X)).all() and np.isfinite(reg.predict_gradient(X)).all()


# -- modes ----------------------------------------------------------------------------
def test_none_ignores_dy_and_matches_plain_fit():
    X, y, dy = _sin_data(n=20)
    a = SobolevRegressor(derivatives="none", **SMALL).fit(X, y, dy=dy)
    b = SobolevRegressor(derivatives="none", **SMALL).fit(X, y)
    assert a.order_ == 0 and list(a.history_) == ["total", "lr", "order0"]
    assert a.derivatives_ == "none"
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_given_and_estimate_train_the_first_order_term():
    X, y, dy = _sin_data(n=20)
    for mode in ("given", "estimate"):
        reg = SobolevRegressor(derivatives=mode, **SMALL).fit(X, y, dy=dy)
        assert reg.order_ == 1 and len(reg.history_["order1"]) == SMALL["max_iter"]


def test_order_two_with_second_derivatives():
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, size=(30, 2))
    y = X[:, 0] ** 2 + 3 * X[:, 0] * X[:, 1]
    dy = np.stack([2 * X[:, 0] + 3 * X[:, 1], 3 * X[:, 0]], axis=1)
    d2y = np.broadcast_to(np.array([[2.0, 3.0], [3.0, 0.0]]), (30, 2, 2))
    kw = {"order": 2, "weights": None, **SMALL}
    reg = SobolevRegressor(activation="tanh", **kw).fit(X, y, dy=dy, d2y=d2y)
    assert len(reg.history_["order2"]) == SMALL["max_iter"]
    with pytest.raises(ValueError, match="d2y"):
        SobolevRegressor(activation="tanh", **kw).fit(X, y, dy=dy)
    with pytest.raises(ValueError, match="d2y"):
        SobolevRegressor(**kw).fit(X, y, dy=dy, d2y=d2y[:, :1])


def test_same_seed_same_model_and_different_seed_different_model():
    X, y, dy = _sin_data(n=20)
    a = SobolevRegressor(**SMALL).fit(X, y, dy=dy).predict(X)
    b = SobolevRegressor(**SMALL).fit(X, y, dy=dy).predict(X)
    c = SobolevRegressor(**(SMALL | {"random_state": 1})).fit(X, y, dy=dy).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# -- minibatch order (shuffle) ----------------------------------------------------------
def test_shuffle_false_is_reproducible_and_differs_from_shuffle_true():
    X, y, dy = _sin_data(n=60)
    kw = SMALL | {"batch_size": 16, "max_iter": 5}
    a = SobolevRegressor(shuffle=False, **kw).fit(X, y, dy=dy).predict(X)
    b = SobolevRegressor(shuffle=False, **kw).fit(X, y, dy=dy).predict(X)
    c = SobolevRegressor(shuffle=True, **kw).fit(X, y, dy=dy).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # In a fixed order the data's order is part of the fit.
    rev = SobolevRegressor(shuffle=False, **kw).fit(X[::-1], y[::-1], dy=dy[::-1]).predict(X)
    assert not np.allclose(a, rev)


def test_shuffle_has_no_effect_with_full_batches():
    X, y, dy = _sin_data(n=40)
    a = SobolevRegressor(shuffle=False, **SMALL).fit(X, y, dy=dy)
    b = SobolevRegressor(shuffle=True, **SMALL).fit(X, y, dy=dy)
    assert a.batch_size_ == b.batch_size_ == 40
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_unshuffled_minibatches_are_consecutive_slices_covering_every_sample():
    batches = minibatches(10, 4, torch.Generator().manual_seed(0), shuffle=False)
    got = [next(batches).tolist() for _ in range(6)]
    epoch = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert got == epoch + epoch


def test_library_fit_validates_shuffle():
    x = torch.rand(8, 1, dtype=torch.float64)
    target = sb.Target.from_arrays(x.sin(), x.cos()[:, None])
    with pytest.raises(ValueError, match="shuffle"):
        sb.fit(sb.MLP(1, 1, (4,), seed=0, dtype=torch.float64), x, target, shuffle="yes")


# -- bad input ------------------------------------------------------------------------
def test_given_without_dy_raises():
    X, y, _ = _sin_data(n=10)
    with pytest.raises(ValueError, match=r"derivatives=\"given\" needs the derivatives dy"):
        SobolevRegressor(derivatives="given", **SMALL).fit(X, y)


@pytest.mark.parametrize(
    "dy_shape", [(10, 2), (9, 1), (10, 1, 2), (10, 2, 1), (10,), (10, 1, 1, 1)]
)
def test_dy_of_wrong_shape_raises(dy_shape):
    X, y, _ = _sin_data(n=10)
    with pytest.raises(ValueError, match="dy must have shape"):
        SobolevRegressor(**SMALL).fit(X, y, dy=np.zeros(dy_shape))


def test_dy_wrong_shape_for_multi_output_raises():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    Y, J = _quadratic(X)
    with pytest.raises(ValueError, match="dy must have shape"):
        SobolevRegressor(**SMALL).fit(X, Y, dy=J[:, 0])  # (N, d) but m = 2


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_dy_raises(bad):
    X, y, dy = _sin_data(n=10)
    dy = dy.copy()
    dy[3] = bad
    with pytest.raises(ValueError, match="dy"):
        SobolevRegressor(**SMALL).fit(X, y, dy=dy)


def test_non_finite_or_misshaped_X_and_y_raise():
    X, y, dy = _sin_data(n=10)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError):
        SobolevRegressor(**SMALL).fit(Xn, y, dy=dy)
    with pytest.raises(ValueError):
        SobolevRegressor(**SMALL).fit(X, y[:-1], dy=dy)
    with pytest.raises(ValueError):
        SobolevRegressor(**SMALL).fit(X[:, 0], y, dy=dy)
    reg = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    with pytest.raises(ValueError, match="features"):
        reg.predict_gradient(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        reg.predict(Xn)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"derivatives": "exact"}, "derivatives"),
        ({"order": 3}, "order"),
        ({"order": 2, "derivatives": "estimate"}, "order"),
        ({"weights": [1.0, 2.0, 3.0]}, "weights"),
        ({"weights": 2.0}, "weights"),
        ({"weights": "differential", "order": 2}, "differential"),
        ({"hidden_layer_sizes": (16, 0)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": "wide"}, "hidden_layer_sizes"),
        ({"activation": "swish"}, "activation"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": "many"}, "max_iter"),
        ({"learning_rate_init": -1.0}, "learning_rate_init"),
        ({"learning_rate_init": float("nan")}, "learning_rate_init"),
        ({"learning_rate_init": True}, "learning_rate_init"),
        ({"alpha": -1.0}, "alpha"),
        ({"batch_size": 0}, "batch_size"),
        ({"tol": -1.0}, "tol"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"early_stopping": "yes"}, "early_stopping"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"warm_start": 1}, "warm_start"),
        ({"shuffle": "yes"}, "shuffle"),
        ({"shuffle": 1}, "shuffle"),
        ({"projections": 0}, "projections"),
        ({"side": "left"}, "side"),
        ({"schedule": "linear"}, "schedule"),
        ({"dtype": "float16"}, "dtype"),
        ({"device": "tpu:x"}, "device"),
        ({"derivatives": "estimate", "n_neighbors": 10}, "n_neighbors"),
        ({"derivatives": "estimate", "n_neighbors": 0}, "n_neighbors"),
    ],
)
def test_bad_parameters_raise_before_training(params, name):
    X, y, dy = _sin_data(n=10)
    reg = SobolevRegressor(**(SMALL | params))
    with pytest.raises(ValueError, match=name):
        reg.fit(X, y, dy=dy)
    assert not hasattr(reg, "model_")


def test_unfitted_predict_gradient_raises():
    with pytest.raises(NotFittedError):
        SobolevRegressor().predict_gradient(np.zeros((2, 1)))


# -- persistence and meta-estimators ----------------------------------------------------
def test_pickle_round_trip_gives_identical_predictions():
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, size=(40, 2))
    Y, J = _quadratic(X)
    reg = SobolevRegressor(**SMALL).fit(X, Y, dy=J)
    blob = pickle.dumps(reg)
    assert b"torch.nn" not in blob  # the network travels as arrays, not as a module
    back = pickle.loads(blob)
    Xt = rng.uniform(-1, 1, size=(25, 2))
    np.testing.assert_array_equal(back.predict(Xt), reg.predict(Xt))
    np.testing.assert_array_equal(back.predict_gradient(Xt), reg.predict_gradient(Xt))
    np.testing.assert_array_equal(copy.deepcopy(reg).predict(Xt), reg.predict(Xt))
    assert back.get_params() == reg.get_params()
    assert "model_" in vars(reg)  # pickling left the fitted estimator intact


def test_pipeline_with_scaler_and_estimated_gradients():
    rng = np.random.default_rng(8)
    X = rng.uniform(-2, 2, size=(60, 2))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("reg", SobolevRegressor(derivatives="estimate", **(SMALL | {"max_iter": 200}))),
        ]
    ).fit(X, y)
    assert pipe.predict(X).shape == (60,)
    assert pipe.score(X, y) > 0.5


def test_pipeline_routes_dy_to_the_regressor():
    X, y, dy = _sin_data(n=30)
    pipe = Pipeline([("reg", SobolevRegressor(**SMALL))]).fit(X, y, reg__dy=dy)
    direct = SobolevRegressor(**SMALL).fit(X, y, dy=dy)
    np.testing.assert_array_equal(pipe.predict(X), direct.predict(X))


def test_cross_val_score_slices_dy_per_fold():
    X, y, dy = _sin_data(n=30)
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(SobolevRegressor(**SMALL), X, y, cv=cv, params={"dy": dy})
    assert scores.shape == (3,) and np.isfinite(scores).all()
    # Shuffled (mismatched) derivatives must give a different result: dy really is used.
    wrong = cross_val_score(SobolevRegressor(**SMALL), X, y, cv=cv, params={"dy": dy[::-1]})
    assert not np.allclose(scores, wrong)


def test_grid_search_over_derivative_modes():
    X, y, dy = _sin_data(n=30)
    search = GridSearchCV(
        SobolevRegressor(**SMALL),
        {"derivatives": ["given", "estimate", "none"], "hidden_layer_sizes": [(8,), (16,)]},
        cv=3,
    ).fit(X, y, dy=dy)
    assert search.best_params_["derivatives"] in ("given", "estimate", "none")
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert clone(search.best_estimator_).get_params() == search.best_estimator_.get_params()
