"""fit_ensemble's per-member weight decay and its compaction of stopped members."""

import numpy as np
import pytest
import torch

from sobolev._training import EarlyStopping
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev_lab.protocol import converged_members, final_train_losses

F64 = torch.float64
HIDDEN = (16, 16)


def _sin_data(e, n, seed, coef=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(e, n, 2, generator=g, dtype=F64) * 2 - 1
    if coef is None:
        coef = torch.randn(e, 1, 1, 2, generator=g, dtype=F64) * 2
    z = (coef * x.unsqueeze(2)).sum(-1)
    return x, torch.sin(z), torch.cos(z).unsqueeze(-1) * coef, coef


def _old_decay_fit(ens, x, y, dy, w, wd, steps, lr):
    """fit_ensemble's former decay: 0.5 wd_e |theta_e|^2 added to the autograd loss."""
    params = list(ens.parameters())
    opt = torch.optim.Adam(params, lr=lr, fused=True)
    totals = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        pred, jac = ens.value_and_jacobian(x)
        total = w[:, 0] * ((pred - y) ** 2).sum(2).mean(1)
        total = total + w[:, 1] * ((jac - dy) ** 2).sum((2, 3)).mean(1)
        totals.append(total.detach().clone())
        total = total + 0.5 * wd * sum(p.pow(2).flatten(1).sum(1) for p in params)
        total.sum().backward()
        opt.step()
    return torch.stack(totals)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_weight_decay_on_the_gradient_equals_the_penalty_in_the_loss(activation):
    x, y, dy, _ = _sin_data(4, 10, seed=0)
    seeds, wd = [0, 1, 2, 3], torch.tensor([0.0, 1e-3, 1e-2, 3e-1], dtype=F64)
    w = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.5, 2.0], [1.0, 1.0]], dtype=F64)
    ref = MLPEnsemble.from_seeds(2, 1, HIDDEN, activation, seeds, dtype=F64)
    totals = _old_decay_fit(ref, x, y, dy, w, wd, steps=60, lr=1e-2)
    ens = MLPEnsemble.from_seeds(2, 1, HIDDEN, activation, seeds, dtype=F64)
    hist = fit_ensemble(ens, x, y, dy, weights=w, weight_decay=wd, steps=60, lr=1e-2,
                        progress=False)  # fmt: skip
    np.testing.assert_allclose(hist["total"], totals.numpy(), rtol=1e-10, atol=1e-13)
    for p, q in zip(ens.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    # The decay acted: without it member 3 ends elsewhere.
    plain = MLPEnsemble.from_seeds(2, 1, HIDDEN, activation, seeds, dtype=F64)
    fit_ensemble(plain, x, y, dy, weights=w, steps=60, lr=1e-2, progress=False)
    assert not torch.allclose(plain.layers[1][3], ens.layers[1][3])
    torch.testing.assert_close(plain.layers[1][0], ens.layers[1][0], rtol=1e-10, atol=1e-12)


def _stopping_problem():
    """Eight members that stop at very different times.

    Members 0-2 are validated against the opposite of their targets (they stop after
    ``patience`` evaluations), 3-5 fit noisy values (they over-fit, then stop) and
    6-7 fit clean values (they stop late or never).
    """
    e = 8
    x, y, dy, coef = _sin_data(e, 12, seed=1)
    xv, yv, _, _ = _sin_data(e, 6, seed=2, coef=coef)
    g = torch.Generator().manual_seed(3)
    y[3:6] += 0.5 * torch.randn(y[3:6].shape, generator=g, dtype=F64)
    yv[:3] = -yv[:3] - 1.0
    return x, y, dy, (xv, yv)


def _run(compact, dy, wd, batch_size, steps=300):
    x, y, dy_all, validation = _stopping_problem()
    ens = MLPEnsemble.from_seeds(2, 1, HIDDEN, "relu", list(range(8)), dtype=F64)
    w = torch.tensor([[1.0, 1.0 if dy else 0.0]] * 8, dtype=F64)
    decay = [0.0, 1e-2, 0.0, 1e-1, 0.0, 3e-2, 1e-3, 0.0] if wd else 0.0
    hist = fit_ensemble(
        ens, x, y, dy_all if dy else None, weights=w, weight_decay=decay, steps=steps,
        lr=1e-2, batch_size=batch_size, seed=4, progress=False, validation=validation,
        eval_every=5, patience=2, compact=compact,
    )  # fmt: skip
    return ens, hist


@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize("wd", [False, True])
@pytest.mark.parametrize("dy", [False, True])
def test_compaction_changes_no_member_result(dy, wd, batch_size, monkeypatch):
    left_out = []  # (evaluation step, members left out there)
    real = EarlyStopping.track

    def spy(self, live, members):
        before = set(range(8)) if self.members is None else set(self.members.tolist())
        left_out.append((self.val_step[-1], sorted(before - set(members.tolist()))))
        real(self, live, members)

    monkeypatch.setattr(EarlyStopping, "track", spy)
    full, hf = _run(False, dy, wd, batch_size)
    assert left_out == []
    comp, hc = _run(True, dy, wd, batch_size)
    stopped = hf["stopped_step"]
    assert len(set(stopped.tolist())) >= 4  # members stopped at very different times
    assert len(left_out) >= 1 and len(left_out[0][1]) >= 4  # at least half of 8 left out

    for p, q in zip(comp.parameters(), full.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(hc["stopped_step"], stopped)
    np.testing.assert_array_equal(hc["best_step"], hf["best_step"])
    np.testing.assert_allclose(hc["best_val"], hf["best_val"], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(hc["val_step"], hf["val_step"])
    assert hc["total"].shape == hf["total"].shape
    for budget in (300, hc["total"].shape[0]):  # the study's budget, and the steps run
        assert converged_members(hc, budget) == converged_members(hf, budget)
    for e, stop in enumerate(stopped):
        # Up to its stop, a member's history is the same with and without compaction.
        for key in ("total", "order0", "order1"):
            np.testing.assert_allclose(hc[key][:stop, e], hf[key][:stop, e], rtol=1e-10,
                                       atol=1e-12)  # fmt: skip
        keep = hf["val_step"] <= stop
        np.testing.assert_allclose(hc["val"][keep, e], hf["val"][keep, e], rtol=1e-10,
                                   atol=1e-12)  # fmt: skip
    for step, members in left_out:
        assert (stopped[members] <= step).all()
        for e in members:
            # Computed up to the evaluation after step `step`, then the last value repeats.
            for key in ("total", "order0", "order1"):
                np.testing.assert_allclose(hc[key][:step, e], hf[key][:step, e], rtol=1e-10,
                                           atol=1e-12)  # fmt: skip
                assert (hc[key][step:, e] == hc[key][step - 1, e]).all()
            at = np.flatnonzero(hc["val_step"] == step)[0]
            assert (hc["val"][at:, e] == hc["val"][at, e]).all()
    gone = sorted(e for _, members in left_out for e in members)
    assert not np.allclose(hc["total"][-1, gone], hf["total"][-1, gone])
    last = final_train_losses(hc)
    np.testing.assert_array_equal(last["total"], hc["total"][-1])
    assert np.isfinite(hc["total"]).all() and np.isfinite(hc["val"]).all()


def test_compact_is_a_strict_bool():
    x, y, dy, validation = _stopping_problem()
    ens = MLPEnsemble.from_seeds(2, 1, (4,), "relu", list(range(8)), dtype=F64)
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="compact must be True or False"):
            fit_ensemble(ens, x, y, dy, steps=2, progress=False, compact=bad)
    hist = fit_ensemble(ens, x, y, dy, steps=2, progress=False, validation=validation,
                        patience=1, compact=np.bool_(False))  # fmt: skip
    assert hist["total"].shape == (2, 8)


def test_early_stopping_tracks_only_stopped_members_left_out():
    script = iter(torch.tensor(v, dtype=F64) for v in [[1.0, 1.0, 1.0], [2.0, 0.5, 2.0], [0.4]])
    state = torch.zeros(3, 1, dtype=F64)
    early = EarlyStopping(
        lambda: next(script), [state], 3, eval_every=1, patience=1, tol=0.0, member_axis=True
    )
    early.update(0)
    with pytest.raises(ValueError, match="only members that have stopped"):
        early.track([state[[0, 1]]], torch.tensor([0, 1]))
    state += 1
    early.update(1)  # members 0 and 2 stop
    assert early.stopped.tolist() == [True, False, True]
    live = state[[1]].clone() + 1
    early.track([live], torch.tensor([1]))
    early.update(2)  # only member 1 is evaluated
    rec = early.restore(2)
    assert rec["val"][:, 1].tolist() == [1.0, 0.5, 0.4]
    assert rec["val"][2].tolist() == [2.0, 0.4, 2.0]  # the others repeat their last value
    assert rec["best_step"].tolist() == [0, 2, 0]
    assert state[:, 0].tolist() == [0.0, 2.0, 0.0]  # member 1's best came from ``live``
