"""Selection on held-out training data: splits, budgets, select, and its test-data blindness."""

import inspect
import json
import math

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

from sobolev_lab.protocol import (
    Budget,
    grid,
    kfold,
    member_stacks,
    select,
    select_scores,
    validation_split,
)


def test_kfold_partitions_the_training_points():
    splits = kfold(20, 4, seed=3)
    assert len(splits) == 4
    held = np.concatenate([va for _, va in splits])
    assert sorted(held.tolist()) == list(range(20))
    for tr, va in splits:
        assert tr.size == 15 and va.size == 5
        assert not set(tr) & set(va)
        assert sorted([*tr, *va]) == list(range(20))
    again = kfold(20, 4, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))
    other = kfold(20, 4, seed=4)
    assert any((a[1] != b[1]).any() for a, b in zip(splits, other, strict=True))


def test_kfold_unequal_sizes_and_errors():
    sizes = sorted(va.size for _, va in kfold(10, 3, seed=0))
    assert sizes == [3, 3, 4]
    for args, match in (((5, 6, 0), "at most n"), ((5, 1, 0), "k must"), ((5, True, 0), "k must")):
        with pytest.raises(ValueError, match=match):
            kfold(*args)


def test_validation_split():
    tr, va = validation_split(100, np.float32(0.2), seed=1)
    assert va.size == 20 and tr.size == 80 and not set(tr) & set(va)
    assert validation_split(3, 0.01, seed=0)[1].size == 1  # at least one held out
    assert validation_split(3, 0.99, seed=0)[0].size == 1  # at least one trained on
    for bad in (0.0, 1.0, -0.1, True, "0.2"):
        with pytest.raises(ValueError, match="fraction"):
            validation_split(10, bad, seed=0)


def test_grid_and_budget():
    g = grid(lr=[1e-3, 1e-2], derivative_weight=[1.0, "auto"])
    assert g == [
        {"lr": 1e-3, "derivative_weight": 1.0},
        {"lr": 1e-3, "derivative_weight": "auto"},
        {"lr": 1e-2, "derivative_weight": 1.0},
        {"lr": 1e-2, "derivative_weight": "auto"},
    ]
    budget = Budget(4)
    regular = grid(lr=[1e-3, 1e-2], weight_decay=[0.0, 1e-4])
    checked = budget.check({"regular": regular, "sobolev": g})
    assert checked["sobolev"] == g
    with pytest.raises(ValueError, match="exactly 4"):
        budget.check({"regular": regular[:3], "sobolev": g})
    with pytest.raises(ValueError, match="repeats"):
        budget.check({"regular": [*regular[:3], regular[0]]})
    big = grid(a=list(range(5)), b=list(range(4)))
    sub = budget.subsample(big, seed=0)
    assert len(sub) == 4 and all(s in big for s in sub)
    assert sub == budget.subsample(big, seed=0)
    assert [big.index(s) for s in sub] == sorted(big.index(s) for s in sub)
    with pytest.raises(ValueError, match="fewer than"):
        Budget(30).subsample(big, seed=0)
    with pytest.raises(ValueError, match="trials"):
        Budget(0)
    with pytest.raises(ValueError, match="axis 'lr'"):
        grid(lr=[])


def _ridge_problem(seed=0, n=40, d=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    return x, y


def _ridge_scorer(x, y):
    def score(config, tr, va):
        model = Ridge(alpha=config["alpha"]).fit(x[tr], y[tr])
        return float(np.mean((model.predict(x[va]) - y[va]) ** 2))

    return score


def test_select_matches_sklearn_cross_validation():
    x, y = _ridge_problem()
    configs = grid(alpha=[1e-3, 1.0, 10.0, 100.0, 1000.0])
    splits = kfold(40, 5, seed=0)
    sel = select(configs, _ridge_scorer(x, y), splits)
    ref = [
        -cross_val_score(
            Ridge(alpha=c["alpha"]), x, y, cv=splits, scoring="neg_mean_squared_error"
        ).mean()
        for c in configs
    ]
    np.testing.assert_allclose(sel.scores, ref, rtol=1e-12)
    assert sel.index == int(np.argmin(ref))
    assert sel.chosen == configs[sel.index]
    rec = sel.record()
    assert json.loads(json.dumps(rec)) == rec
    assert rec["chosen"] == sel.chosen and rec["n_trials"] == 5 and rec["n_splits"] == 5
    assert rec["cv_score"] == pytest.approx(min(ref))


def test_select_ranks_diverged_trials_last_and_refuses_all_diverged():
    configs = grid(c=[0, 1, 2])
    errors = {0: 2.0, 1: math.nan, 2: 3.0}
    sel = select(configs, lambda c, tr, va: errors[c["c"]], kfold(6, 2, seed=0))
    assert sel.index == 0
    rec = sel.record()
    assert rec["scores"] == [2.0, None, 3.0] and rec["n_diverged"] == 1
    with pytest.raises(FloatingPointError, match="every one"):
        select(configs, lambda c, tr, va: math.inf, kfold(6, 2, seed=0))
    with pytest.raises(ValueError, match="shape"):
        select_scores(configs, np.ones((2, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        select_scores(configs, -np.ones((3, 1)))
    with pytest.raises(ValueError, match="overlap"):
        select(configs, lambda c, tr, va: 1.0, [(np.array([0, 1]), np.array([1, 2]))])


def _pipeline(x, y, x_test, y_test):
    """What a study does: select on training data, refit, evaluate on test."""
    sel = select(grid(alpha=[1e-2, 1.0, 30.0, 300.0]), _ridge_scorer(x, y), kfold(len(y), 4, 0))
    model = Ridge(**sel.chosen).fit(x, y)
    with np.errstate(invalid="ignore", over="ignore"):
        test_mse = float(np.mean((model.predict(x_test) - y_test) ** 2))
    return sel.record(), test_mse


def test_selection_never_sees_test_data_poisoning():
    x, y = _ridge_problem(seed=1)
    xt, yt = _ridge_problem(seed=2, n=200)
    clean, clean_mse = _pipeline(x, y, xt, yt)
    assert math.isfinite(clean_mse)
    for poison in (np.full_like(yt, np.nan), np.full_like(yt, 1e300), -yt * 1e6):
        record, mse = _pipeline(x, y, xt, poison)
        assert record == clean  # same choice, same CV scores, bit for bit
        assert mse != clean_mse
    # Test data has no way in: no parameter of the selection API takes it.
    for fn in (select, member_stacks, kfold, validation_split):
        names = set(inspect.signature(fn).parameters)
        assert not any("test" in p for p in names), (fn.__name__, names)
    with pytest.raises(TypeError):
        select(grid(alpha=[1.0]), _ridge_scorer(x, y), kfold(40, 4, 0), test=(xt, yt))
