"""Synthetic-gradient study: modules, the decoupled update, reproducibility, config."""

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sobolev as sb
from sobolev._training import minibatches
from sobolev_lab.experiments.synthetic_gradients import STUDY, SGConfig, run_cell
from sobolev_lab.experiments.synthetic_gradients.config import validate_cell
from sobolev_lab.experiments.synthetic_gradients.data import CIFAR10_FILES
from sobolev_lab.experiments.synthetic_gradients.models import (
    cnn1d_stages,
    cnn_stages,
    mlp_stages,
    stage_shapes,
)
from sobolev_lab.experiments.synthetic_gradients.modules import (
    Critic,
    SyntheticGradient,
    critic_loss,
    critic_value_and_gradient,
)
from sobolev_lab.experiments.synthetic_gradients.train import Trainer

TINY = {"steps": 12, "eval_every": 6, "hidden": [16, 16, 16], "module_width": 16,
        "monitor_size": 32, "batch_size": 32}  # fmt: skip


# -- models and modules ---------------------------------------------------------------
def test_cuts_leave_the_network_unchanged():
    one, three = mlp_stages(64, 10, 1, seed=3), mlp_stages(64, 10, 3, seed=3)
    assert len(one) == 2 and len(three) == 4
    for p, q in zip(one.parameters(), three.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert stage_shapes(one, (64,)) == [(256,)]
    assert stage_shapes(three, (64,)) == [(256,), (256,), (256,)]


def test_cnn_stage_shapes():
    stages = cnn_stages(3, 10, 3, channels=(4, 6, 8), seed=0)
    assert stage_shapes(stages, (3, 32, 32)) == [(4, 16, 16), (6, 8, 8), (8, 4, 4)]
    assert stage_shapes(cnn_stages(3, 10, 1, channels=(4, 6, 8), seed=0), (3, 32, 32)) == [
        (6, 8, 8)
    ]
    with pytest.raises(ValueError, match="modules must be one of"):
        mlp_stages(64, 10, 2, seed=0)


def test_cnn1d_stage_shapes():
    stages = cnn1d_stages(1, 10, 3, channels=(4, 6, 8), length=40, seed=0)
    assert stage_shapes(stages, (1, 40)) == [(4, 20), (6, 10), (8, 5)]
    assert stages[-1](torch.zeros(2, 8, 5)).shape == (2, 10)


@pytest.mark.parametrize("shape", [(20,), (4, 12), (4, 8, 8)])
def test_modules_start_at_zero_gradient(shape):
    h, y1h = torch.randn(5, *shape), F.one_hot(torch.arange(5) % 3, 3).float()
    g = SyntheticGradient(shape, 3, width=8)(h, y1h)
    assert g.shape == h.shape and not g.any()
    c, dc = critic_value_and_gradient(Critic(shape, 3, width=8), h, y1h)
    assert c.shape == (5,) and dc.shape == h.shape and not c.any() and not dc.any()


def test_critic_derivatives_are_with_respect_to_h_only():
    torch.manual_seed(0)
    critic = Critic((6,), 4, width=16, activation="tanh").double()
    for p in critic.parameters():  # leave the zero initialisation
        torch.nn.init.normal_(p, std=0.5)
    h = torch.randn(7, 6, dtype=torch.float64)
    y1h = F.one_hot(torch.arange(7) % 4, 4).double()
    c, g = critic_value_and_gradient(critic, h, y1h)
    value, J = sb.value_and_jacobian(lambda z: critic(z, y1h)[:, None], h, create_graph=False)
    torch.testing.assert_close(value[:, 0], c)
    torch.testing.assert_close(J[:, 0], g)
    # Finite differences in h with the label held fixed.
    eps = 1e-6
    e = torch.zeros_like(h)
    e[:, 2] = eps
    fd = (critic(h + e, y1h) - critic(h - e, y1h)) / (2 * eps)
    torch.testing.assert_close(g[:, 2], fd, rtol=1e-6, atol=1e-8)
    # The label matters to the value (conditioning), but is not differentiated.
    assert not torch.allclose(critic(h, y1h), critic(h, y1h.roll(1, 1)))


@pytest.mark.parametrize("weights", [(0.3, 2.0), (1.0, 0.0), (0.0, 1.0)])
def test_critic_loss_matches_sobolev_loss_and_its_formula(weights):
    torch.manual_seed(1)
    critic = Critic((5,), 3, width=12, activation="tanh").double()
    for p in critic.parameters():
        torch.nn.init.normal_(p, std=0.5)
    h = torch.randn(9, 5, dtype=torch.float64)
    y1h = F.one_hot(torch.arange(9) % 3, 3).double()
    ell, delta = torch.rand(9, dtype=torch.float64), torch.randn(9, 5, dtype=torch.float64)
    reference = sb.SobolevLoss(order=1, weights=weights)(
        lambda z: critic(z, y1h)[:, None], h, sb.Target.from_arrays(ell, delta)
    )
    c, g = critic_value_and_gradient(critic, h, y1h, differentiable=True, create_graph=True)
    loss, v_term, g_term = critic_loss(c, g, ell, delta, *weights)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(v_term, ((c - ell) ** 2).mean().detach())
    torch.testing.assert_close(g_term, ((g - delta) ** 2).sum(1).mean().detach())
    # Same parameter gradients as the library loss (the value critic's without create_graph).
    c2, g2 = critic_value_and_gradient(
        critic, h, y1h, differentiable=True, create_graph=weights[1] > 0
    )
    ours = torch.autograd.grad(critic_loss(c2, g2, ell, delta, *weights)[0], critic.parameters())
    ref = torch.autograd.grad(reference, critic.parameters(), allow_unused=True)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, torch.zeros_like(a) if b is None else b)


# -- the decoupled update -----------------------------------------------------------
def _double_trainer(method, modules, seed=0, **extra):
    cell = {**TINY, "task": f"digits/mlp/{modules}", "method": method, "seed": seed, **extra}
    tr = Trainer(cell, (10,), 4)
    tr.stages.double()
    tr.modules.double()
    for m in tr.modules:  # non-zero predictions so the lower stage really moves
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return tr


@pytest.mark.parametrize("method", ["dni", "value_critic", "gradient_critic", "sobolev_critic"])
def test_lower_stage_gets_the_synthetic_gradient_over_n(method):
    tr = _double_trainer(method, 1)
    x = torch.randn(8, 10, dtype=torch.float64)
    y = torch.arange(8) % 4
    y1h = F.one_hot(y, 4).float()
    stage0, module = copy.deepcopy(tr.stages[0]), copy.deepcopy(tr.modules[0])
    h = stage0(x)
    if method == "dni":
        g_hat = module(h.detach(), y1h)
    else:
        g_hat = critic_value_and_gradient(module, h, y1h)[1]
    expected = torch.autograd.grad(h, list(stage0.parameters()), grad_outputs=g_hat / 8)
    tr.step(x, y)
    for p, e in zip(tr.stages[0].parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e)


@pytest.mark.parametrize(
    ("method", "w"),
    [
        ("dni", None),
        ("value_critic", (1, 0)),
        ("gradient_critic", (0, 1)),
        ("sobolev_critic", (0.25, 1)),
    ],
)
def test_highest_module_regresses_onto_the_true_per_sample_loss_and_gradient(method, w):
    tr = _double_trainer(method, 3, w_value=0.25)
    x = torch.randn(8, 10, dtype=torch.float64)
    y = torch.arange(8) % 4
    y1h = F.one_hot(y, 4).double()
    stages, module = copy.deepcopy(tr.stages), copy.deepcopy(tr.modules[2])
    h = x
    for s in stages[:3]:
        h = s(h)
    h = h.detach().requires_grad_(True)
    ell = F.cross_entropy(stages[3](h), y, reduction="none")
    (delta,) = torch.autograd.grad(ell.sum(), h)  # per-sample dl_i/dh_i
    if method == "dni":
        err = ((module(h.detach(), y1h) - delta) ** 2).sum(1).mean()
    else:  # an independent float64 formula: autograd on the critic's own graph
        hg = h.detach().requires_grad_(True)
        c = module(hg, y1h)
        (g,) = torch.autograd.grad(c.sum(), hg, create_graph=True)
        err = w[0] * ((c - ell.detach()) ** 2).mean() + w[1] * ((g - delta) ** 2).sum(1).mean()
    expected = torch.autograd.grad(err, list(module.parameters()), allow_unused=True)
    tr.step(x, y)
    for p, e in zip(tr.modules[2].parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, torch.zeros_like(p) if e is None else e)


def test_warm_up_scales_are_the_zero_critics_initial_errors():
    tr = Trainer({**TINY, "method": "sobolev_critic", "w_value": 0.1, "normalise": True},
                 (10,), 4)  # fmt: skip
    x, y = torch.randn(16, 10), torch.arange(16) % 4
    scales = tr.warm_up(x, y)
    h = x
    cuts = []
    for s in tr.stages:
        h = s(h)
        cuts.append(h)
    ell = F.cross_entropy(h, y, reduction="none")
    true = torch.autograd.grad(ell.sum(), cuts[:-1])
    assert scales["value"] == pytest.approx(float((ell.detach() ** 2).mean()), rel=1e-6)
    assert scales["gradient"] == pytest.approx(
        [float((g**2).sum(1).mean()) for g in true], rel=1e-6
    )
    # Normalised weights: both error terms of the zero-initialised critic start at (W, 1).
    for (w_v, w_g), s_g in zip(tr.weights, scales["gradient"], strict=True):
        assert w_v * scales["value"] == pytest.approx(0.1)
        assert w_g * s_g == pytest.approx(1.0)


def test_noprop_freezes_lower_stages_and_backprop_does_not():
    for method, frozen in (("noprop", True), ("backprop", False)):
        tr = Trainer({**TINY, "method": method}, (10,), 4)
        before = [p.clone() for p in tr.stages[0].parameters()]
        tr.step(torch.randn(8, 10), torch.arange(8) % 4)
        after = list(tr.stages[0].parameters())
        same = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert same is frozen


def test_diagnostics_on_known_gradients():
    tr = Trainer({**TINY, "method": "dni"}, (10,), 4)
    x, y = torch.randn(32, 10), torch.arange(32) % 4
    d = tr.diagnostics(x, y)
    # A zero-initialised module predicts 0: no common share, cosine 0 and
    # R² = 1 - sum |g|² / sum |g - mean g|² (float64 reference from backprop by hand).
    h, cuts = x.double(), []
    for s in copy.deepcopy(tr.stages).double():
        h = s(h)
        cuts.append(h)
    true = torch.autograd.grad(F.cross_entropy(h, y, reduction="sum"), cuts[:-1])
    r2 = [float(1 - (g**2).sum() / ((g - g.mean(0)) ** 2).sum()) for g in true]
    assert d["common"] == [None] * 3 and d["r2"] == pytest.approx(r2, rel=1e-4)
    assert d["cosine"] == pytest.approx([0.0] * 3)
    # Dead units: killing the first stage's bias and weights makes every unit at cut 0 dead.
    with torch.no_grad():
        tr.stages[0][0][0].weight.zero_()
        tr.stages[0][0][0].bias.fill_(-1.0)
    assert tr.diagnostics(x, y)["dead"][0] == 1.0


def test_common_share_is_one_for_a_sample_independent_gradient():
    tr = Trainer({**TINY, "method": "dni"}, (10,), 4)
    with torch.no_grad():  # output bias only: the same prediction for every sample
        out = tr.modules[0].net[-1]
        out.bias.normal_()
    x, y = torch.randn(32, 10), torch.arange(32) % 4
    assert tr.diagnostics(x, y)["common"][0] == pytest.approx(1.0)


# -- runs -------------------------------------------------------------------------------
def test_same_seed_gives_identical_numbers_and_other_seeds_differ():
    cell = {**TINY, "method": "sobolev_critic", "normalise": True}
    a = run_cell({**cell, "seed": 4})
    b = run_cell({**cell, "seed": 4})
    c = run_cell({**cell, "seed": 5})
    assert a["status"] == "ok" and a["scales"] is not None
    assert a["curves"] == b["curves"]
    assert a["curves"]["train_loss"] != c["curves"]["train_loss"]
    assert len(a["curves"]["step"]) == 2 and len(a["curves"]["cosine"][0]) == 3
    assert all(-1 <= v <= 1 for v in a["curves"]["cosine"][-1])
    # The reported test accuracy is the one at the best validation point.
    i = int(np.argmax(a["curves"]["val_acc"]))
    assert a["test_acc"] == a["curves"]["test_acc"][i] and a["best_step"] == a["curves"]["step"][i]


def test_divergence_is_reported_not_raised():
    out = run_cell({**TINY, "task": "digits/mlp/1", "method": "dni", "lr": 1e30})
    assert out["status"] == "diverged"
    assert out["test_acc"] is None and out["diverged_step"] == TINY["eval_every"]


def test_mnist1d_cnn_and_amp_on_cpu():
    pytest.importorskip("mnist1d")
    cfg = {**TINY, "task": "mnist1d/cnn/3", "channels": [4, 4, 4], "module_width": 4,
           "steps": 2, "eval_every": 2, "monitor_size": 8}  # fmt: skip
    out = run_cell({**cfg, "method": "sobolev_critic", "amp": True})
    assert out["status"] == "ok" and len(out["curves"]["dead"][0]) == 3


def test_cifar_cnn_path_on_cpu(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        with open(folder / name, "wb") as fh:
            doc = {b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8),
                   b"labels": list(range(8))}  # fmt: skip
            pickle.dump(doc, fh)
    cfg = {**TINY, "task": "cifar10/cnn/3", "data_dir": str(tmp_path), "channels": [4, 4, 4],
           "module_width": 4, "batch_size": 8, "steps": 2, "eval_every": 2,
           "monitor_size": 8}  # fmt: skip
    out = run_cell({**cfg, "method": "dni", "device": "cpu"})
    assert out["status"] == "ok" and len(out["curves"]["cosine"][-1]) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_smoke():
    for method in ("backprop", "dni", "value_critic", "gradient_critic", "sobolev_critic"):
        cell = {**TINY, "method": method, "normalise": True, "device": "cuda:0"}
        out = run_cell(cell)
        assert out["status"] == "ok"
        # The inner step never synchronises with the host: CUDA raises on any sync.
        tr = Trainer(cell, (10,), 4)
        x, y = torch.randn(32, 10, device="cuda:0"), (torch.arange(32) % 4).to("cuda:0")
        tr.step(x, y)  # first call: lazy initialisation may sync
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                tr.step(x, y)
        finally:
            torch.cuda.set_sync_debug_mode("default")


def test_onehot_matches_torch():
    tr = Trainer({**TINY, "method": "dni"}, (10,), 4)
    y = torch.tensor([3, 0, 2, 2, 1])
    torch.testing.assert_close(tr._onehot(y), F.one_hot(y, 4).float(), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"method": "sg"}, "method must be one of"),
        ({"task": "svhn/mlp/3"}, "tasks entries must be"),
        ({"task": "digits/cnn/3"}, "tasks entries must be"),
        ({"task": "digits/mlp/2"}, "tasks entries must be"),
        ({"steps": -5}, "steps must be an integer >= 1"),
        ({"lr": 0}, "lr must be a positive finite number"),
        ({"device": "tpu"}, "device must be cpu, cuda or cuda:k"),
        ({"device": "cuda:x"}, "device must be cpu, cuda or cuda:k"),
        ({"method": "dni", "critic_activation": "relu"}, "critic_activation must be None"),
        ({"trial": 7}, "trial must be <"),
        ({"stepz": 3}, "unknown config key"),
    ],
)
def test_invalid_cell_is_refused_before_training(override, match):
    with pytest.raises(ValueError, match=match):
        validate_cell(override)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("seeds", True, "seeds must be an integer >= 1"),
        ("seeds", 0, "seeds must be an integer >= 1"),
        ("steps", 2.0, "steps must be an integer >= 1"),
        ("tasks", ("digits/mlp/4",), "tasks entries must be"),
        ("methods", ("backprop", "nope"), "methods must be one of"),
        ("methods", ("dni", "dni"), "without repeats"),
        ("conditioned", 1, "conditioned must be True or False"),
        ("lr", True, "lr must be a positive finite number"),
        ("hidden", (64, 64), "hidden must be a list of 3"),
        ("critic_activations", ("swish",), "critic_activations must be one of"),
        ("sobolev_grid", ("raw:1", "half:2", "norm:1"), "sobolev_grid entries must be"),
        ("lr_grid", (1e-3, 3e-3, 1e-2), "same number of trials"),
    ],
)
def test_invalid_study_config_is_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        SGConfig(**{field: value})


def test_cell_defaults_normalise_numbers_and_trials_give_equal_budgets():
    cell = validate_cell({"lr": 1, "hidden": (8, np.int64(8), 8)})
    assert isinstance(cell["lr"], float)
    assert cell["hidden"] == [8, 8, 8] and type(cell["hidden"][1]) is int
    assert (cell["method"], cell["task"], cell["seed"]) == ("sobolev_critic", "digits/mlp/3", 0)
    config = SGConfig()
    cells = STUDY.cells(config)
    per_variant = {}
    for c in cells:
        key = (c["task"], c["method"], c["critic_activation"])
        per_variant.setdefault(key, set()).add(c["trial"])
    assert {len(v) for v in per_variant.values()} == {config.n_trials}
    assert cells[0]["seed"] == 0 and cells[-1]["seed"] == config.seeds - 1  # seeds outermost
    sob = [c for c in cells if c["method"] == "sobolev_critic" and c["seed"] == 0]
    # The w0 grid {1, 0.1, 0.01, 0.001} plus one normalised trial.
    assert {(c["w_value"], c["normalise"]) for c in sob} == {
        (1.0, False),
        (0.1, False),
        (0.01, False),
        (0.001, False),
        (0.1, True),
    }
    assert {c["critic_activation"] for c in sob} == {"relu", "softplus"}


def test_minibatches_draw_the_old_samplers_batches():
    """sobolev._training.minibatches replaced the study's own sampler: same draws."""

    def old(n, batch_size, generator):  # the removed sampler, verbatim
        batch_size = min(batch_size, n)
        while True:
            perm = torch.randperm(n, generator=generator)
            for i in range(0, n - batch_size + 1, batch_size):
                yield perm[i : i + batch_size]

    for n, bs in ((1437, 64), (10, 3), (12, 4)):
        a, b = (
            old(n, bs, torch.Generator().manual_seed(7)),
            minibatches(n, bs, torch.Generator().manual_seed(7)),
        )
        for _ in range(3 * n // bs + 2):
            assert torch.equal(next(a), next(b))
