"""Vectorised MLP ensembles against the sequential library path (sb.MLP + sb.fit)."""

import numpy as np
import pytest
import torch

import sobolev as sb
from sobolev.ensemble import MLPEnsemble, fit_ensemble

F64 = torch.float64


def _data(e, n, d, seed=0, m=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(e, n, d, generator=g, dtype=F64) * 4 - 2
    a = torch.randn(e, 1, m, d, generator=g, dtype=F64)
    # f_e(x) = sin(a_e . x) per output: different targets per member.
    z = (a * x.unsqueeze(2)).sum(-1)  # (E, N, m)
    y = torch.sin(z)
    dy = torch.cos(z).unsqueeze(-1) * a  # (E, N, m, d)
    return x, y, dy


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "silu", "gelu", "elu"])
@pytest.mark.parametrize("m", [1, 3])
def test_jacobian_matches_value_and_jacobian_per_member(activation, m):
    ens = MLPEnsemble.from_seeds(3, m, (7, 5, 6), activation, [0, 1, 2, 3], dtype=F64)
    x, _, _ = _data(4, 9, 3, m=m)
    y, jac = ens.value_and_jacobian(x)
    assert y.shape == (4, 9, m) and jac.shape == (4, 9, m, 3)
    for e, model in enumerate(ens.to_models()):
        y_ref, j_ref = sb.value_and_jacobian(model, x[e], create_graph=False)
        torch.testing.assert_close(y[e], y_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(jac[e], j_ref, rtol=1e-12, atol=1e-12)


def test_from_seeds_reproduces_sb_mlp_and_shared_inputs_broadcast():
    ens = MLPEnsemble.from_seeds(2, 1, (16, 16), "relu", [5, 9], dtype=F64)
    x = torch.rand(11, 2, dtype=F64)
    out = ens(x)
    for e, s in enumerate([5, 9]):
        ref = sb.MLP(2, 1, (16, 16), "relu", seed=s, dtype=F64)(x)
        torch.testing.assert_close(out[e], ref, rtol=0, atol=1e-14)
    y, jac = ens.predict(x, chunk=4)
    y2, jac2 = ens.value_and_jacobian(x, create_graph=False)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(jac, jac2)


def _sequential(seeds, x, y, dy, orders, activation, **kw):
    out = []
    for e, (s, order) in enumerate(zip(seeds, orders, strict=True)):
        model = sb.MLP(x.shape[2], y.shape[2], (16, 12), activation, seed=s, dtype=F64)
        hist = sb.fit(
            model,
            x[e],
            sb.Target.from_arrays(y[e], dy[e]),
            loss=sb.SobolevLoss(order=order),
            progress=False,
            **kw,
        )
        out.append((model, hist))
    return out


@pytest.mark.parametrize(
    ("activation", "kw"),
    [
        ("relu", {"steps": 60, "lr": 3e-3, "schedule": "cosine"}),
        ("tanh", {"steps": 40, "lr": 1e-2, "schedule": "constant"}),
        ("relu", {"steps": 40, "lr": 3e-3, "schedule": "cosine", "batch_size": 5, "seed": 3}),
    ],
)
def test_fit_ensemble_equals_sequential_fit(activation, kw):
    seeds, orders = [0, 1, 2, 0], [1, 0, 1, 0]
    x, y, dy = _data(4, 12, 2, seed=1, m=1)
    ens = MLPEnsemble.from_seeds(2, 1, (16, 12), activation, seeds, dtype=F64)
    weights = torch.tensor([[1.0, float(o)] for o in orders], dtype=F64)
    hist = fit_ensemble(ens, x, y, dy, weights=weights, progress=False, **kw)
    ref = _sequential(seeds, x, y, dy, orders, activation, **kw)
    for e, (model, h) in enumerate(ref):
        np.testing.assert_allclose(hist["total"][:, e], h["total"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(hist["order0"][:, e], h["order0"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(hist["lr"], h["lr"], rtol=1e-15)
        for p, q in zip(ens.to_models()[e].parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-11)
    # Training did something: the loss fell for every member.
    assert (hist["total"][-1] < 0.9 * hist["total"][0]).all()


def test_fit_ensemble_is_deterministic():
    x, y, dy = _data(3, 10, 2)
    runs = []
    for _ in range(2):
        ens = MLPEnsemble.from_seeds(2, 1, (8, 8), "relu", [0, 1, 2])
        fit_ensemble(ens, x.float(), y.float(), dy.float(), steps=20, progress=False)
        runs.append([p.detach().clone() for p in ens.parameters()])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_fit_ensemble_rejects_bad_input_before_training():
    x, y, dy = _data(2, 6, 2)
    ens = MLPEnsemble.from_seeds(2, 1, (4,), "relu", [0, 1], dtype=F64)
    before = [p.detach().clone() for p in ens.parameters()]
    with pytest.raises(ValueError, match="dy is needed"):
        fit_ensemble(ens, x, y, None, steps=3, progress=False)
    with pytest.raises(ValueError, match="steps"):
        fit_ensemble(ens, x, y, dy, steps=-1, progress=False)
    with pytest.raises(ValueError, match="x must have shape"):
        fit_ensemble(ens, x[:1], y, dy, steps=3, progress=False)
    with pytest.raises(ValueError, match="dy must have shape"):
        fit_ensemble(ens, x, y, dy[:, :3], steps=3, progress=False)
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        fit_ensemble(ens, x, y, dy, weights=(1.0, -1.0), steps=3, progress=False)
    with pytest.raises(ValueError, match="have shape \\(2, 2\\), got shape \\(3, 2\\)"):
        fit_ensemble(ens, x, y, dy, weights=np.ones((3, 2)), steps=3, progress=False)
    # A float64 weight beyond float32's range names the member and the dtype.
    ens32 = MLPEnsemble.from_seeds(2, 1, (4,), "relu", [0, 1])
    with pytest.raises(ValueError, match=r"torch.float32; member\(s\) \[1\] have \[1.0, inf\]"):
        fit_ensemble(
            ens32,
            x.float(),
            y.float(),
            dy.float(),
            weights=np.array([[1.0, 1.0], [1.0, 1e200]]),
            steps=3,
            progress=False,
        )
    with pytest.raises(ValueError, match="y contains"):
        fit_ensemble(ens, x, y * float("nan"), dy, steps=3, progress=False)
    for a, b in zip(before, ens.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="activation"):
        MLPEnsemble.from_seeds(2, 1, (4,), "swish", [0])
    with pytest.raises(ValueError, match="one architecture"):
        MLPEnsemble.from_models([sb.MLP(2, 1, (4,)), sb.MLP(2, 1, (5,))])


def test_divergence_raises_and_names_members():
    x, y, _ = _data(2, 6, 2)
    ens = MLPEnsemble.from_seeds(2, 1, (8,), "relu", [0, 1])
    y = y.float() * 1e25  # squared residuals overflow float32
    with pytest.raises(FloatingPointError, match="member"):
        fit_ensemble(ens, x.float(), y, None, weights=(1.0, 0.0), steps=5, progress=False)


def test_without_validation_the_history_keys_are_unchanged():
    x, y, dy = _data(2, 6, 2)
    ens = MLPEnsemble.from_seeds(2, 1, (4,), "tanh", [0, 1], dtype=F64)
    hist = fit_ensemble(ens, x, y, dy, steps=7, progress=False)
    assert set(hist) == {"total", "order0", "order1", "lr"}
    assert hist["total"].shape == (7, 2) and hist["lr"].shape == (7,)
    model = sb.MLP(2, 1, (4,), "tanh", seed=0, dtype=F64)
    h = sb.fit(model, x[0], sb.Target.from_arrays(y[0], dy[0]), steps=7, progress=False)
    assert set(h) == {"total", "order0", "order1", "lr"} and len(h["total"]) == 7


def test_per_member_weight_decay_equals_sequential_fit_with_adam_weight_decay():
    seeds, orders, decays = [0, 1, 2], [1, 0, 1], [0.0, 1e-2, 1e-1]
    x, y, dy = _data(3, 12, 2, seed=4, m=1)
    ens = MLPEnsemble.from_seeds(2, 1, (16, 12), "tanh", seeds, dtype=F64)
    weights = torch.tensor([[1.0, float(o)] for o in orders], dtype=F64)
    kw = {"steps": 40, "lr": 1e-2}
    fit_ensemble(ens, x, y, dy, weights=weights, weight_decay=decays, progress=False, **kw)
    for e, (s, order, wd) in enumerate(zip(seeds, orders, decays, strict=True)):
        ((model, _),) = _sequential(
            [s], x[e : e + 1], y[e : e + 1], dy[e : e + 1], [order], "tanh", weight_decay=wd, **kw
        )
        for p, q in zip(ens.to_models()[e].parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-8, atol=1e-10)
    plain = MLPEnsemble.from_seeds(2, 1, (16, 12), "tanh", seeds, dtype=F64)
    fit_ensemble(plain, x, y, dy, weights=weights, progress=False, **kw)
    assert not torch.allclose(plain.layers[0][2], ens.layers[0][2])  # the decay acted
    with pytest.raises(ValueError, match="weight_decay must be a non-negative float or 3"):
        fit_ensemble(plain, x, y, dy, weights=weights, weight_decay=[0.1, -1, 0], steps=1)
    with pytest.raises(ValueError, match="weight_decay"):
        fit_ensemble(plain, x, y, dy, weights=weights, weight_decay=True, steps=1)
