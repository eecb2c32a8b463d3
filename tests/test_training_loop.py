"""The shared training loop: early stopping and best-state restore in fit and fit_ensemble."""

import numpy as np
import pytest
import torch
from torch import nn

import sobolev as sb
from sobolev._training import EarlyStopping
from sobolev.ensemble import MLPEnsemble, fit_ensemble

F64 = torch.float64


def _noisy(n, seed, noise=0.3, d=1):
    """Few noisy samples of sin(3 x_1) with exact gradients of the clean function."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=F64) * 2 - 1
    y = torch.sin(3 * x[:, :1]) + noise * torch.randn(n, 1, generator=g, dtype=F64)
    dy = torch.zeros(n, 1, d, dtype=F64)
    dy[:, 0, 0] = 3 * torch.cos(3 * x[:, 0])
    return x, y, dy


def _clean(n, seed, d=1):
    return _noisy(n, seed, noise=0.0, d=d)


def _value_mse(model, x, y):
    with torch.no_grad():
        return float(((model(x) - y) ** 2).sum(1).mean())


def test_restored_model_has_the_recorded_best_metric():
    x, y, dy = _noisy(8, 0)
    xv, yv, _ = _clean(200, 1)
    model = sb.MLP(1, 1, (32, 32), "tanh", seed=0, dtype=F64)
    hist = sb.fit(
        model,
        x,
        sb.Target.from_arrays(y, dy),
        loss=sb.SobolevLoss(order=0),
        steps=200,
        lr=1e-2,
        progress=False,
        validation=(xv, sb.Target.from_arrays(yv)),
        eval_every=10,
    )
    assert hist["val_step"] == list(range(0, 201, 10))
    assert len(hist["val"]) == len(hist["val_step"]) and len(hist["total"]) == 200
    i = int(np.argmin(hist["val"]))
    assert hist["best_step"] == hist["val_step"][i] and hist["best_val"] == hist["val"][i]
    assert hist["stopped_step"] == 200
    # The restored weights give the recorded best, recomputed independently.
    np.testing.assert_allclose(_value_mse(model, xv, yv), hist["best_val"], rtol=1e-12)
    # Over-fitting few noisy points: the best is strictly before the end and better.
    assert hist["best_step"] < 200 and hist["best_val"] < 0.9 * hist["val"][-1]


def test_val_metric_loss_is_the_exact_sobolev_loss_on_held_out_points():
    x, y, dy = _noisy(10, 2, d=2)
    xv, yv, dyv = _clean(50, 3, d=2)
    loss = sb.SobolevLoss(order=1, weights=(1.0, 0.5), projections=1)
    model = sb.MLP(2, 1, (16,), "tanh", seed=1, dtype=F64)
    tv = sb.Target.from_arrays(yv, dyv)
    hist = sb.fit(
        model, x, sb.Target.from_arrays(y, dy), loss=loss, steps=30, lr=1e-2,
        progress=False, validation=(xv, tv), val_metric="loss", eval_every=7,
    )  # fmt: skip
    assert hist["val_step"] == [0, 7, 14, 21, 28, 30]
    # Independent reference: values and autograd Jacobians, weights (1, 0.5), exact terms.
    xg = xv.clone().requires_grad_(True)
    out = model(xg)
    (jac,) = torch.autograd.grad(out.sum(), xg)
    ref = ((out - yv) ** 2).sum(1).mean() + 0.5 * ((jac - dyv[:, 0]) ** 2).sum(1).mean()
    np.testing.assert_allclose(float(ref.detach()), hist["best_val"], rtol=1e-12)
    with pytest.raises(ValueError, match="needs derivatives"):
        sb.fit(
            model, x, sb.Target.from_arrays(y, dy), loss=loss, steps=3, progress=False,
            validation=(xv, sb.Target.from_arrays(yv)), val_metric="loss",
        )  # fmt: skip


def test_val_metric_sobolev_loss_scores_with_its_own_weights():
    x, y, dy = _noisy(10, 2, d=2)
    xv, yv, dyv = _clean(50, 3, d=2)
    train = sb.SobolevLoss(order=1, weights=(1.0, 0.5))
    scorer = sb.SobolevLoss(order=1, weights=(0.25, 2.0), projections=1)
    model = sb.MLP(2, 1, (16,), "tanh", seed=1, dtype=F64)
    hist = sb.fit(
        model, x, sb.Target.from_arrays(y, dy), loss=train, steps=30, lr=1e-2,
        progress=False, validation=(xv, sb.Target.from_arrays(yv, dyv)), val_metric=scorer,
        eval_every=7,
    )  # fmt: skip
    # Independent reference: the scorer's weights (not training's), exact terms.
    xg = xv.clone().requires_grad_(True)
    out = model(xg)
    (jac,) = torch.autograd.grad(out.sum(), xg)
    ref = 0.25 * ((out - yv) ** 2).sum(1).mean() + 2.0 * ((jac - dyv[:, 0]) ** 2).sum(1).mean()
    np.testing.assert_allclose(float(ref.detach()), hist["best_val"], rtol=1e-12)
    with pytest.raises(ValueError, match="val_metric=a SobolevLoss with SobolevLoss.order=1"):
        sb.fit(
            model, x, sb.Target.from_arrays(y, dy), loss=train, steps=3, progress=False,
            validation=(xv, sb.Target.from_arrays(yv)), val_metric=scorer,
        )  # fmt: skip
    with pytest.raises(ValueError, match="val_metric must be one of .* or a sobolev.SobolevLoss"):
        sb.fit(model, x, sb.Target.from_arrays(y, dy), steps=3, progress=False,
               validation=(xv, sb.Target.from_arrays(yv, dyv)), val_metric=0.5)  # fmt: skip


def test_patience_stops_early_on_a_problem_that_overfits():
    x, y, _ = _noisy(6, 4, noise=0.5)
    xv, yv, _ = _clean(200, 5)
    kw = {"loss": sb.SobolevLoss(order=0), "steps": 800, "lr": 1e-2, "progress": False}
    model = sb.MLP(1, 1, (32, 32), "tanh", seed=2, dtype=F64)
    hist = sb.fit(
        model, x, sb.Target.from_arrays(y), **kw,
        validation=(xv, sb.Target.from_arrays(yv)), eval_every=5, patience=10,
    )  # fmt: skip
    assert hist["stopped_step"] < 800 and len(hist["total"]) == hist["stopped_step"]
    # It stopped exactly `patience` evaluations after the best one.
    assert hist["val_step"][-1] == hist["stopped_step"] == hist["best_step"] + 10 * 5
    np.testing.assert_allclose(_value_mse(model, xv, yv), hist["best_val"], rtol=1e-12)
    # The run without validation follows the same curve (evaluation draws nothing) and
    # ends over-fitted.
    full = sb.MLP(1, 1, (32, 32), "tanh", seed=2, dtype=F64)
    ref = sb.fit(full, x, sb.Target.from_arrays(y), **kw)
    assert "val" not in ref and len(ref["total"]) == 800
    assert ref["total"][: hist["stopped_step"]] == hist["total"]
    assert _value_mse(full, xv, yv) > 1.5 * hist["best_val"]


def test_patience_and_tol_semantics_on_a_scripted_metric():
    # Two members; the metric after each evaluation is scripted, the state is a counter.
    script = iter(
        torch.tensor(v, dtype=F64)
        for v in [[1.0, 1.0], [0.5, 0.98], [0.49, 0.97], [0.6, 0.5], [0.44, 0.96], [0.3, 0.2]]
    )
    state = torch.zeros(2, 1, dtype=F64)
    early = EarlyStopping(
        lambda: next(script), [state], 2, eval_every=1, patience=2, tol=0.05, member_axis=True
    )
    stops = []
    for step in range(6):
        state += 1  # the state "after step" evaluations: 1, 2, ...
        stops.append(early.update(step))
    rec = early.restore(6)
    # Member 0: 0.49 is lower (best) but not 5 % lower than 0.5 (no reset); 0.6 is worse:
    # two evaluations without a significant gain, so it stops at step 3 with best 0.49.
    # Member 1: 0.98 and 0.97 are within 5 % of 1.0, so it stops at step 2 with best
    # 0.97; its later 0.5 and 0.2 are recorded but ignored.
    assert rec["stopped_step"].tolist() == [3, 2]
    assert rec["best_step"].tolist() == [2, 2]
    assert rec["best_val"].tolist() == [0.49, 0.97]
    assert stops == [False, False, False, True, True, True]
    assert rec["val"][:, 1].tolist() == [1.0, 0.98, 0.97, 0.5, 0.96, 0.2]
    assert state[:, 0].tolist() == [3.0, 3.0]  # both restored to their best (after step 2)


def test_patience_growth_waits_as_long_as_the_last_improvement_took():
    # Member 0 improves at evaluations 1..6, member 1 only at evaluation 1; then both
    # stall. With patience 2 and growth 1, member 1 stops 2 evaluations after its
    # improvement (max(2, 1 * 1) = 2), member 0 only 6 after its last (max(2, 6)).
    m0 = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4] + [0.45] * 10
    m1 = [1.0, 0.5] + [0.6] * 15
    script = iter(torch.tensor(v, dtype=F64) for v in zip(m0, m1, strict=True))
    state = torch.zeros(2, 1, dtype=F64)
    early = EarlyStopping(
        lambda: next(script), [state], 2, eval_every=1, patience=2, tol=0.0,
        member_axis=True, patience_growth=1.0,
    )  # fmt: skip
    for step in range(len(m0)):
        if early.update(step):
            break
    rec = early.restore(step)
    assert rec["stopped_step"].tolist() == [12, 3]
    assert rec["best_step"].tolist() == [6, 1]
    # Without growth the same script stops member 0 at evaluation 8.
    script = iter(torch.tensor(v, dtype=F64) for v in zip(m0, m1, strict=True))
    fixed = EarlyStopping(
        lambda: next(script), [state], 2, eval_every=1, patience=2, tol=0.0, member_axis=True
    )
    for step in range(len(m0)):
        if fixed.update(step):
            break
    assert fixed.restore(step)["stopped_step"].tolist() == [8, 3]


def test_validation_leaves_training_unchanged_with_dropout_and_projections():
    x, y, dy = _noisy(24, 8, d=2)
    xv, yv, _ = _clean(20, 9, d=2)

    def run(validation):
        torch.manual_seed(11)
        model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))
        model.double()
        hist = sb.fit(
            model, x, sb.Target.from_arrays(y, dy), steps=25, lr=1e-2, batch_size=8, seed=5,
            loss=sb.SobolevLoss(order=1, projections=2), progress=False, validation=validation,
        )  # fmt: skip
        return model, hist

    _, plain = run(None)
    model, early = run((xv, sb.Target.from_arrays(yv)))
    assert early["total"] == plain["total"] and early["order1"] == plain["order1"]
    assert model.training  # evaluation ran in eval mode and restored the training mode


def _member_data(e, n, d=2, seed=0, coef=None):
    """Member e fits sin(a_e . x) at its own n points; returns x, y, dy and the a_e."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(e, n, d, generator=g, dtype=F64) * 2 - 1
    if coef is None:
        coef = torch.randn(e, 1, 1, d, generator=g, dtype=F64) * 2
    z = (coef * x.unsqueeze(2)).sum(-1)
    return x, torch.sin(z), torch.cos(z).unsqueeze(-1) * coef, coef


@pytest.mark.parametrize(
    ("val_metric", "growth"), [("values", 0.0), ("loss", 0.0), ("values", 1.0)]
)
def test_ensemble_members_stop_and_restore_like_their_own_fit(val_metric, growth):
    seeds, orders = [0, 1, 2], [1, 0, 1]
    x, y, dy, coef = _member_data(3, 6, seed=1)
    y = y + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(2), dtype=F64)
    xv, yv, dyv, _ = _member_data(3, 40, seed=3, coef=coef)  # clean, other points
    weights = torch.tensor([[1.0, float(o)] for o in orders], dtype=F64)
    kw = {"steps": 2000, "lr": 1e-2, "eval_every": 4, "patience": 8, "tol": 1e-3}
    kw["patience_growth"] = growth
    ens = MLPEnsemble.from_seeds(2, 1, (32, 32), "tanh", seeds, dtype=F64)
    hist = fit_ensemble(
        ens, x, y, dy, weights=weights, progress=False, validation=(xv, yv, dyv),
        val_metric=val_metric, **kw,
    )  # fmt: skip
    assert hist["val"].shape == (len(hist["val_step"]), 3)
    assert hist["total"].shape == (int(hist["stopped_step"].max()), 3)
    assert len(set(hist["stopped_step"].tolist())) > 1  # members stopped at different steps
    for e, (s, o) in enumerate(zip(seeds, orders, strict=True)):
        model = sb.MLP(2, 1, (32, 32), "tanh", seed=s, dtype=F64)
        ref = sb.fit(
            model, x[e], sb.Target.from_arrays(y[e], dy[e]), loss=sb.SobolevLoss(order=o),
            progress=False, validation=(xv[e], sb.Target.from_arrays(yv[e], dyv[e])),
            val_metric=val_metric, **kw,
        )  # fmt: skip
        assert hist["stopped_step"][e] == ref["stopped_step"] < 2000
        assert hist["best_step"][e] == ref["best_step"]
        np.testing.assert_allclose(hist["best_val"][e], ref["best_val"], rtol=1e-9)
        k = len(ref["val"])
        np.testing.assert_allclose(hist["val"][:k, e], ref["val"], rtol=1e-9, atol=1e-14)
        for p, q in zip(ens.to_models()[e].parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-11)


def test_early_stopping_arguments_are_checked():
    x, y, dy = _noisy(8, 0)
    t = sb.Target.from_arrays(y, dy)
    model = sb.MLP(1, 1, (4,), seed=0, dtype=F64)
    val = (x, sb.Target.from_arrays(y))
    cases = [
        ({"patience": 3}, "patience needs validation"),
        ({"validation": val, "patience": 0}, "patience must be an integer >= 1"),
        ({"validation": val, "patience": True}, "patience must be an integer"),
        ({"validation": val, "eval_every": 0}, "eval_every must be an integer >= 1"),
        ({"validation": val, "tol": -0.1}, "tol must be a finite number >= 0"),
        ({"validation": val, "patience_growth": -1}, "patience_growth must be a finite"),
        ({"validation": val, "val_metric": "mse"}, "val_metric must be one of"),
        ({"validation": x}, "validation must be a pair"),
        ({"validation": (x[:, :0], val[1])}, "validation x_val"),
        ({"validation": (x[:3], val[1])}, "N_val = 3 samples but target_val has 8"),
        ({"validation": (x, y)}, "target_val must be a sobolev.Target"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            sb.fit(model, x, t, steps=2, progress=False, **kw)
    xe, ye, dye, _ = _member_data(2, 5)
    ens = MLPEnsemble.from_seeds(2, 1, (4,), "relu", [0, 1], dtype=F64)
    with pytest.raises(ValueError, match="validation x must have shape"):
        fit_ensemble(ens, xe, ye, dye, steps=2, progress=False, validation=(xe[:1], ye))
    with pytest.raises(ValueError, match="validation dy is needed"):
        fit_ensemble(
            ens, xe, ye, dye, steps=2, progress=False, validation=(xe, ye), val_metric="loss"
        )
    with pytest.raises(ValueError, match="validation must be"):
        fit_ensemble(ens, xe, ye, dye, steps=2, progress=False, validation=xe)


def test_a_non_finite_held_out_metric_raises():
    script = iter([torch.tensor([1.0, 2.0]), torch.tensor([0.5, float("nan")])])
    early = EarlyStopping(
        lambda: next(script), [torch.zeros(2)], 2, eval_every=1, patience=None, tol=0.0,
        member_axis=True,
    )  # fmt: skip
    early.update(0)
    with pytest.raises(
        FloatingPointError, match=r"member\(s\) \[1\] became non-finite after step 1"
    ):
        early.update(1)


def test_one_cycle_schedule_is_huge_and_savines_piecewise_linear_shape():
    from sobolev._training import learning_rate

    steps, lr = 1000, 0.1
    knots_t = [0.0, 0.2, 0.6, 0.9, 1.0]
    knots_lr = [1e-8, 0.1, 0.01, 1e-6, 1e-8]  # the twin net's published knots at peak 0.1
    for step in (0, 1, 57, 199, 200, 201, 444, 600, 750, 899, 900, 999, 1000):
        expect = float(np.interp(step / steps, knots_t, knots_lr))
        assert learning_rate(lr, "one_cycle", step, steps) == pytest.approx(expect, rel=1e-12)


def test_one_cycle_schedule_trains_through_fit_and_the_estimator():
    import torch

    from sobolev import MLP, Target, fit
    from sobolev.sklearn import SobolevRegressor

    x = torch.linspace(-1, 1, 32, dtype=torch.float64)[:, None]
    target = Target.from_arrays(torch.sin(3 * x)[:, 0], 3 * torch.cos(3 * x)[:, :, None])
    model = MLP(1, 1, hidden=(16,), activation="tanh").double()
    hist = fit(model, x, target, steps=300, lr=3e-2, schedule="one_cycle", seed=0, progress=False)
    assert hist["lr"][60] == pytest.approx(3e-2)  # the peak, at a fifth of the budget
    assert hist["lr"][-1] < 1e-6
    assert hist["total"][-1] < 0.01 * hist["total"][0]
    reg = SobolevRegressor(schedule="one_cycle", max_iter=50, random_state=0)
    reg.fit(x.numpy(), np.sin(3 * x.numpy()[:, 0]))
    assert np.isfinite(reg.predict(x.numpy())).all()
