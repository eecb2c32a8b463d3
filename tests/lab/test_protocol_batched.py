"""Batched trials: member stacks for fit_ensemble, read back into per-seed selections."""

import numpy as np
import pytest
import torch

from sobolev import MLP, SobolevLoss, Target, fit
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev_lab.protocol import (
    converged,
    converged_members,
    convergence_record,
    final_train_losses,
    grid,
    heldout_mse,
    kfold,
    member_stacks,
    member_weights,
    refit_stacks,
    select_scores,
    stack_scores,
)

SEEDS = [0, 1]
N, D, K = 12, 2, 3


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(len(SEEDS), N, D))
    y = x[..., 0] ** 2 + 0.5 * x[..., 1] - x[..., 0] * x[..., 1]
    dy = np.stack([2 * x[..., 0] - x[..., 1], 0.5 - x[..., 0]], -1)
    return x, y, dy


def _splits():
    return [kfold(N, K, seed=s) for s in SEEDS]


def test_layout_groups_by_lr_and_holds_each_fold_data():
    x, y, dy = _data()
    configs = grid(lr=[1e-2, 1e-3], derivative_weight=[0.0, 2.0])
    stacks = member_stacks(x, y, dy, configs, _splits(), SEEDS)
    assert [st.shared for st in stacks] == [{"lr": 1e-2}, {"lr": 1e-3}]
    splits = _splits()
    for st in stacks:
        assert len(st.members) == 2 * K * len(SEEDS)
        assert st.x.shape == (len(st.members), N - N // K, D)
        assert st.x_val.shape == (len(st.members), N // K, D)
        for e, m in enumerate(st.members):
            s = SEEDS.index(m.seed)
            tr, va = splits[s][m.fold]
            np.testing.assert_array_equal(st.x[e], x[s, tr])
            np.testing.assert_array_equal(st.y_val[e], y[s, va])
            np.testing.assert_array_equal(st.dy[e], dy[s, tr])
            w1 = configs[m.config]["derivative_weight"]
            assert tuple(st.weights[e]) == (1.0, w1)
            # No held-out point is among the member's training points.
            assert not (st.x_val[e][:, None, :] == st.x[e][None]).all(-1).any()


def test_auto_weights_follow_the_fold_targets():
    x, y, dy = _data()
    w0, w1 = member_weights({"derivative_weight": "auto"}, x[0], y[0], dy[0])
    # SobolevLoss "auto": c_k / s_k with c = (1, d) / (1 + d), s0 = Var y, s1 = mean |dy|^2.
    assert w0 == pytest.approx(1 / (1 + D) / y[0].var(), rel=1e-12)
    assert w1 == pytest.approx(D / (1 + D) / (dy[0] ** 2).sum(1).mean(), rel=1e-12)
    for bad in (-1.0, "big", True, float("nan")):
        with pytest.raises(ValueError, match="derivative_weight"):
            member_weights({"derivative_weight": bad}, x[0], y[0], dy[0])
    with pytest.raises(ValueError, match="needs derivative targets"):
        member_weights({"derivative_weight": 1.0}, x[0], y[0], None)


def test_auto_weights_of_targets_zero_in_float32_stay_finite():
    # Easom at n = 20: values of 1e-105 give float64 "auto" weights of about 1e207,
    # which overflow float32 training; there the balance is that of a zero target.
    x, y, dy = _data()
    tiny_y, tiny_dy = y[0] * 1e-105, dy[0] * 1e-105
    w64 = member_weights({"derivative_weight": "auto"}, x[0], tiny_y, tiny_dy)
    assert w64[0] > 1e200 and np.isfinite(w64).all()
    w32 = member_weights({"derivative_weight": "auto"}, x[0], tiny_y, tiny_dy, torch.float32)
    assert w32 == pytest.approx((1 / (1 + D), D / (1 + D)), rel=1e-12)
    # Only the term out of range falls back: here the derivatives (1e-30 squared).
    w0, w1 = member_weights({"derivative_weight": "auto"}, x[0], y[0], dy[0] * 1e-30, torch.float32)
    assert w0 == pytest.approx(1 / (1 + D) / y[0].var(), rel=1e-12)
    assert w1 == pytest.approx(D / (1 + D), rel=1e-12)
    # Targets representable in float32 keep their float64 weights exactly.
    normal = member_weights({"derivative_weight": "auto"}, x[0], y[0], dy[0])
    assert member_weights({"derivative_weight": "auto"}, x[0], y[0], dy[0], torch.float32) == normal
    # The stacks pass the training dtype down.
    splits = [kfold(x.shape[1], 2, seed=s) for s in range(x.shape[0])]
    configs = [{"lr": 1e-3, "derivative_weight": "auto"}]
    stacks = member_stacks(
        x, y * 1e-105, dy * 1e-105, configs, splits, list(range(x.shape[0])), dtype=torch.float32
    )
    assert np.isfinite(stacks[0].weights.astype(np.float32)).all()


def test_callable_targets_only_see_fold_training_points():
    x, y, _ = _data()
    calls = []

    def estimated(s, idx):
        calls.append((s, tuple(idx)))
        return np.zeros((idx.size, D))

    member_stacks(x, y, estimated, grid(lr=[1e-3], derivative_weight=[1.0]), _splits(), SEEDS)
    splits = _splits()
    assert len(calls) == K * len(SEEDS)
    for s, idx in calls:
        assert any(idx == tuple(tr) for tr, _ in splits[s])
        assert not any(set(idx) & set(va) for tr, va in splits[s] if tuple(tr) == idx)


def test_layout_errors():
    x, y, dy = _data()
    configs = grid(lr=[1e-3])
    uneven = [kfold(N, 5, seed=s) for s in SEEDS]
    with pytest.raises(ValueError, match="k dividing n"):
        member_stacks(x, y, dy, configs, uneven, SEEDS)
    with pytest.raises(ValueError, match="shared trainer key"):
        member_stacks(x, y, dy, [{"derivative_weight": 1.0}], _splits(), SEEDS)
    with pytest.raises(ValueError, match="one list of splits per seed"):
        member_stacks(x, y, dy, configs, _splits()[:1], SEEDS)
    with pytest.raises(ValueError, match="dy must have shape"):
        member_stacks(x, y, dy[:, :, :1], configs, _splits(), SEEDS)


def test_trained_stacks_score_like_independent_fits_and_select_per_seed():
    torch.manual_seed(0)
    x, y, dy = _data()
    configs = grid(lr=[3e-2, 3e-3], derivative_weight=[0.0, 1.0])
    stacks = member_stacks(x, y, dy, configs, _splits(), SEEDS)
    steps, hidden = 60, (8,)
    errors = []
    for st in stacks:
        ens = MLPEnsemble.from_seeds(D, 1, hidden, "tanh", st.seeds, dtype=torch.float64)
        fit_ensemble(
            ens, st.x, st.y, st.dy, weights=st.weights, steps=steps, progress=False, **st.shared
        )
        errors.append(heldout_mse(st, ens.predict(st.x_val, jacobian=False)[0].numpy()))
    scores = stack_scores(stacks, errors, len(configs), SEEDS)
    assert scores.shape == (len(SEEDS), len(configs), K)
    # One trial re-run alone with sobolev.fit: same number, so the read-back is aligned.
    s, c, f = 1, 3, 2
    tr, va = _splits()[s][f]
    cfg = configs[c]
    model = MLP(D, 1, hidden, "tanh", seed=SEEDS[s], dtype=torch.float64)
    loss = SobolevLoss(order=1, weights=(1.0, cfg["derivative_weight"]))
    fit(
        model,
        x[s, tr],
        Target.from_arrays(y[s, tr], dy[s, tr]),
        loss=loss,
        steps=steps,
        lr=cfg["lr"],
        progress=False,
    )
    with torch.no_grad():
        pred = model(torch.as_tensor(x[s, va])).numpy()[:, 0]
    assert scores[s, c, f] == pytest.approx(np.mean((pred - y[s, va]) ** 2), rel=1e-9)
    chosen = [select_scores(configs, scores[i]) for i in range(len(SEEDS))]
    for i, sel in enumerate(chosen):
        assert sel.index == int(np.argmin(scores[i].mean(1)))


def test_heldout_mse_marks_divergence_and_checks_shapes():
    x, y, dy = _data()
    (st,) = member_stacks(x, y, dy, grid(lr=[1e-3]), _splits(), SEEDS)
    pred = st.y_val.copy()
    pred[0, 0] = np.nan
    pred[1, 0] += 2.0
    err = heldout_mse(st, pred)
    assert err[0] == np.inf and err[1] == pytest.approx(4.0 / pred.shape[1]) and err[2] == 0.0
    with pytest.raises(ValueError, match="y_pred must have shape"):
        heldout_mse(st, pred[:, :1])
    with pytest.raises(ValueError, match="no error"):
        stack_scores([st], [err], 2, SEEDS)


def test_early_stopping_scores_and_convergence_read_back():
    x, y, dy = _data()
    configs = grid(lr=[3e-2], derivative_weight=[0.0, "auto"])
    (st,) = member_stacks(x, y, dy, configs, _splits(), SEEDS)
    ens = MLPEnsemble.from_seeds(D, 1, (8,), "tanh", st.seeds, dtype=torch.float64)
    steps = 200
    hist = fit_ensemble(
        ens, st.x, st.y, st.dy, weights=st.weights, steps=steps, progress=False,
        validation=(st.x_val, st.y_val), eval_every=10, patience=5, **st.shared,
    )  # fmt: skip
    # The trainer's best held-out value MSE is the restored members' held-out MSE.
    restored = heldout_mse(st, ens.predict(st.x_val, jacobian=False)[0].numpy())
    np.testing.assert_allclose(hist["best_val"], restored, rtol=1e-9)
    scores = stack_scores([st], [hist["best_val"]], len(configs), SEEDS)
    assert np.isfinite(scores).all()
    flags = converged_members(hist, budget=steps)
    record = convergence_record(flags)
    assert record["trainings"] == len(st.members) == len(flags)
    # Stopped by patience before the last quarter: no tail improvement, so converged.
    early = hist["stopped_step"] < 0.75 * steps
    assert early.any() and all(f for f, e in zip(flags, early, strict=True) if e)
    # A member still improving at the end of its run is judged on its own curve.
    for e in np.flatnonzero(~early):
        keep = hist["val_step"] <= hist["stopped_step"][e]
        assert flags[e] == converged(hist["val"][keep, e], hist["val_step"][keep], budget=steps)
    losses = final_train_losses(hist, at="best")
    assert len(losses["order0"]) == len(st.members)


def test_refit_stacks_train_each_seeds_choice_on_all_its_points():
    x, y, dy = _data()
    configs = grid(lr=[3e-2, 3e-3], derivative_weight=[0.0, 1.0])
    chosen = [3, 0]
    calls = []

    def targets(s, idx):
        calls.append(idx.tolist())
        return dy[s, idx]

    stacks = refit_stacks(x, y, targets, configs, chosen, SEEDS)
    assert [st.shared for st in stacks] == [{"lr": 3e-3}, {"lr": 3e-2}]
    assert calls == [list(range(N))] * 2
    by_seed = {m.seed: (st, e) for st in stacks for e, m in enumerate(st.members)}
    for s, seed in enumerate(SEEDS):
        st, e = by_seed[seed]
        assert st.members[e].config == chosen[s] and st.members[e].fold == -1
        np.testing.assert_array_equal(st.x[e], x[s])
        assert st.x_val is None and st.y_val is None
        assert tuple(st.weights[e]) == (1.0, configs[chosen[s]]["derivative_weight"])
    with pytest.raises(ValueError, match="one config index"):
        refit_stacks(x, y, dy, configs, [4, 0], SEEDS)
    with pytest.raises(ValueError, match="not refit_stacks"):
        stack_scores(stacks, [np.zeros(1), np.zeros(1)], len(configs), SEEDS)


def test_weight_decay_is_a_per_member_candidate_that_the_trainer_applies():
    x, y, _ = _data()
    configs = grid(lr=[1e-2], weight_decay=[0.0, 0.5])
    (st,) = member_stacks(x, y, None, configs, _splits(), SEEDS)
    expected = [configs[m.config]["weight_decay"] for m in st.members]
    np.testing.assert_array_equal(st.weight_decay, expected)
    ens = MLPEnsemble.from_seeds(D, 1, [8], "tanh", st.seeds, dtype=torch.float64)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    fit_ensemble(ens, as_t(st.x), as_t(st.y), None, weights=st.weights, steps=200, lr=1e-2,
                 weight_decay=st.weight_decay, seed=0, progress=False)  # fmt: skip
    # L2 decay shrinks the decayed members' weights: smaller norms, same data.
    norms = torch.stack([p.detach().flatten(1).norm(dim=1) for p in ens.parameters()]).sum(0)
    decayed = torch.as_tensor(st.weight_decay > 0)
    assert norms[decayed].max() < norms[~decayed].min()
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0"):
        member_stacks(x, y, None, [{"lr": 1e-2, "weight_decay": -1.0}], _splits(), SEEDS)
