"""Convergence of a held-out curve, the convergence record, and per-cell diagnostics."""

import numpy as np
import pytest
import torch

from sobolev import MLP, SobolevLoss, Target, fit
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev_lab.protocol import (
    CRITERION,
    converged,
    converged_members,
    convergence_record,
    dead_unit_fraction,
    final_train_losses,
)

STEPS = np.arange(0, 1001, 50)


def test_plateau_converged_and_descent_not():
    plateau = 1.0 + np.exp(-STEPS / 50.0)  # flat long before the last quarter
    assert converged(plateau, STEPS)
    descending = 2.0 - STEPS / 1000.0  # best falls by 0.25 / 1.25 = 20% in the tail
    assert not converged(descending, STEPS)
    # 0.5% better in the tail is under the 1% threshold, 2% is not.
    tail = STEPS > 750
    assert converged(np.where(tail, 0.995, 1.0), STEPS)
    assert not converged(np.where(tail, 0.98, 1.0), STEPS)
    assert converged(np.where(tail, 0.98, 1.0), STEPS, rel=0.05)
    # Noise that never beats the best of the first three quarters is converged.
    rng = np.random.default_rng(0)
    noisy = 1.0 + 0.1 * rng.random(STEPS.size)
    noisy[3] = 0.9
    assert converged(noisy, STEPS)


def test_early_stopped_and_diverged_curves():
    steps = np.arange(0, 301, 50)
    stopped = np.array([5.0, 2.0, 1.0, 1.1, 1.2, 1.3, 1.4])
    assert converged(stopped, steps, budget=1000)  # stopped by patience before the tail
    assert not converged(np.linspace(2, 1, 7), steps)  # still falling at its own end
    recovered = np.where(STEPS <= 750, np.nan, 1.0)
    assert not converged(recovered, STEPS)
    assert not converged(np.full(STEPS.size, np.inf), STEPS)


def test_converged_errors():
    with pytest.raises(ValueError, match="evaluate more often"):
        converged([1.0, 0.9], [900, 1000])
    with pytest.raises(ValueError, match="same length|one length"):
        converged([1.0, 0.9], [0, 500, 1000])
    with pytest.raises(ValueError, match="increasing"):
        converged([1.0, 0.9, 0.8], [0, 500, 500])
    with pytest.raises(ValueError, match="fraction"):
        converged([1.0, 0.9], [0, 1000], fraction=1.0)
    with pytest.raises(ValueError, match="budget"):
        converged([1.0, 0.9], [0, 1000], budget=500)


def test_converged_members_needs_an_early_stopping_history():
    with pytest.raises(ValueError, match="validation"):
        converged_members({"total": np.zeros((3, 2))}, budget=3)
    hist = {"val_step": STEPS, "val": np.ones((STEPS.size, 2)), "stopped_step": [1000, 100]}
    hist["val"][-1, 1] = 0.5  # after member 1 stopped: ignored
    hist["val"][-1, 0] = 0.5  # member 0 improved 50% in its tail
    assert converged_members(hist, budget=1000) == [False, True]


def test_convergence_record():
    rec = convergence_record([True, False, np.bool_(True)])
    assert rec == {"trainings": 3, "converged": 2, "criterion": CRITERION}
    assert convergence_record([True, None], "x")["converged"] is None
    with pytest.raises(ValueError, match="flags"):
        convergence_record([1, 0])
    with pytest.raises(ValueError, match="criterion"):
        convergence_record([True], "")


def _mlp_with_dead_units(seed):
    model = MLP(2, 1, (6, 5), "relu", seed=seed, dtype=torch.float64)
    with torch.no_grad():
        first, second = model[0], model[2]
        first.bias[:2] = -100.0  # inputs in [-1, 1]^2 cannot lift these above 0
        second.weight[3:] = 0.0
        second.bias[3:] = -1.0
    return model


def test_dead_unit_fraction_counts_units_never_active():
    x = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    model = _mlp_with_dead_units(0)
    # Independent count from the layers' pre-activations.
    a1 = model[0](x)
    a2 = model[2](torch.relu(a1))
    expected = (int((a1 <= 0).all(0).sum()) + int((a2 <= 0).all(0).sum())) / 11
    assert expected >= 4 / 11
    assert dead_unit_fraction(model, x) == pytest.approx(expected)
    models = [_mlp_with_dead_units(0), MLP(2, 1, (6, 5), "relu", seed=1, dtype=torch.float64)]
    ens = MLPEnsemble.from_models(models)
    fractions = dead_unit_fraction(ens, x)
    np.testing.assert_allclose(fractions, [dead_unit_fraction(m, x) for m in models])
    with pytest.raises(ValueError, match="activations"):
        dead_unit_fraction(MLP(2, 1, (4,), "tanh"), x)
    with pytest.raises(ValueError, match="shape"):
        dead_unit_fraction(model, x[:, :1])


def test_final_train_losses_from_fit_and_fit_ensemble():
    x = torch.rand(16, 2, dtype=torch.float64)
    y, dy = x.sum(1), torch.ones(16, 2, dtype=torch.float64)
    model = MLP(2, 1, (8,), "tanh", seed=0, dtype=torch.float64)
    hist = fit(
        model,
        x,
        Target.from_arrays(y, dy),
        loss=SobolevLoss(order=1),
        steps=20,
        lr=1e-2,
        progress=False,
    )
    out = final_train_losses(hist)
    assert set(out) == {"total", "order0", "order1"}
    assert out["order1"] == hist["order1"][-1]
    assert final_train_losses(hist, window=5)["order0"] == pytest.approx(
        np.mean(hist["order0"][-5:])
    )
    ens = MLPEnsemble.from_seeds(2, 1, (8,), "tanh", [0, 1], dtype=torch.float64)
    eh = fit_ensemble(
        ens,
        x.expand(2, -1, -1),
        y.expand(2, -1),
        dy.expand(2, -1, -1),
        steps=20,
        lr=1e-2,
        progress=False,
    )
    out = final_train_losses(eh)
    assert out["order1"] == pytest.approx(eh["order1"][-1].tolist())
    best = final_train_losses({**eh, "best_step": np.array([4, 9])}, at="best")
    assert best["order0"] == pytest.approx([eh["order0"][4, 0], eh["order0"][9, 1]])
    # best_step = steps is the final state, whose loss was never recorded: the last one.
    last = final_train_losses({**eh, "best_step": np.array([20, 20])}, at="best")
    assert last["total"] == pytest.approx(eh["total"][-1].tolist())
    with pytest.raises(ValueError, match="outside"):
        final_train_losses({**eh, "best_step": np.array([21, 0])}, at="best")
    with pytest.raises(ValueError, match="best_step"):
        final_train_losses(eh, at="best")
    with pytest.raises(ValueError, match="no 'total'"):
        final_train_losses({"lr": [1e-3]})
