"""Synthetic-gradient study: modules, the decoupled update, reproducibility, config."""

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sobolev as sb
from sobolev._training import minibatches
from sobolev_lab.experiments.synthetic_gradients import SGConfig, run_cell
from sobolev_lab.experiments.synthetic_gradients.config import validate_cell
from sobolev_lab.experiments.synthetic_gradients.data import CIFAR10_FILES
from sobolev_lab.experiments.synthetic_gradients.models import cnn_stages, mlp_stages, stage_shapes
from sobolev_lab.experiments.synthetic_gradients.modules import (
    Critic,
    SyntheticGradient,
    critic_of_flat_h,
    critic_value_and_gradient,
)
from sobolev_lab.experiments.synthetic_gradients.study import aggregate
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


@pytest.mark.parametrize("shape", [(20,), (4, 8, 8)])
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
    value, J = sb.value_and_jacobian(critic_of_flat_h(critic, y1h), h, create_graph=False)
    c, g = critic_value_and_gradient(critic, h, y1h)
    assert J.shape == (7, 1, 6)
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


def test_sobolev_critic_loss_matches_its_formula():
    torch.manual_seed(1)
    critic = Critic((5,), 3, width=12, activation="tanh").double()
    for p in critic.parameters():
        torch.nn.init.normal_(p, std=0.5)
    h = torch.randn(9, 5, dtype=torch.float64)
    y1h = F.one_hot(torch.arange(9) % 3, 3).double()
    ell, delta = torch.rand(9, dtype=torch.float64), torch.randn(9, 5, dtype=torch.float64)
    loss = sb.SobolevLoss(order=1, weights=(0.3, 2.0))(
        critic_of_flat_h(critic, y1h), h, sb.Target.from_arrays(ell, delta)
    )
    c, g = critic_value_and_gradient(critic, h, y1h)
    expected = 0.3 * ((c - ell) ** 2).mean() + 2.0 * ((g - delta) ** 2).sum(1).mean()
    torch.testing.assert_close(loss.detach(), expected)


# -- the decoupled update -----------------------------------------------------------
def _double_trainer(method, modules, seed=0):
    tr = Trainer({**TINY, "method": method, "modules": modules, "seed": seed}, (10,), 4)
    tr.stages.double()
    tr.modules.double()
    for m in tr.modules:  # non-zero predictions so the lower stage really moves
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return tr


@pytest.mark.parametrize("method", ["sg", "critic", "sobolev"])
def test_lower_stage_gets_the_synthetic_gradient_over_n(method):
    tr = _double_trainer(method, 1)
    x = torch.randn(8, 10, dtype=torch.float64)
    y = torch.arange(8) % 4
    y1h = F.one_hot(y, 4).float()
    stage0, module = copy.deepcopy(tr.stages[0]), copy.deepcopy(tr.modules[0])
    h = stage0(x)
    if method == "sg":
        g_hat = module(h.detach(), y1h)
    else:
        g_hat = critic_value_and_gradient(module, h, y1h)[1]
    expected = torch.autograd.grad(h, list(stage0.parameters()), grad_outputs=g_hat / 8)
    tr.step(x, y)
    for p, e in zip(tr.stages[0].parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e)


def test_highest_module_regresses_onto_the_true_per_sample_gradient():
    tr = _double_trainer("sg", 3)
    x = torch.randn(8, 10, dtype=torch.float64)
    y = torch.arange(8) % 4
    stages, module = copy.deepcopy(tr.stages), copy.deepcopy(tr.modules[2])
    h = x
    for s in stages[:3]:
        h = s(h)
    h = h.detach().requires_grad_(True)
    ell = F.cross_entropy(stages[3](h), y, reduction="none")
    (delta,) = torch.autograd.grad(ell.sum(), h)  # per-sample dl_i/dh_i
    err = ((module(h.detach(), F.one_hot(y, 4).float()) - delta) ** 2).sum(1).mean()
    expected = torch.autograd.grad(err, list(module.parameters()))
    tr.step(x, y)
    for p, e in zip(tr.modules[2].parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e)


def test_noprop_freezes_lower_stages_and_backprop_does_not():
    for method, frozen in (("noprop", True), ("backprop", False)):
        tr = Trainer({**TINY, "method": method, "modules": 3}, (10,), 4)
        before = [p.clone() for p in tr.stages[0].parameters()]
        tr.step(torch.randn(8, 10), torch.arange(8) % 4)
        after = list(tr.stages[0].parameters())
        same = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert same is frozen


# -- runs -------------------------------------------------------------------------------
def test_same_seed_gives_identical_numbers_and_other_seeds_differ():
    a = run_cell({**TINY, "method": "sobolev", "modules": 3, "seed": 4})
    b = run_cell({**TINY, "method": "sobolev", "modules": 3, "seed": 4})
    c = run_cell({**TINY, "method": "sobolev", "modules": 3, "seed": 5})
    assert a["status"] == "ok"
    assert a["curves"] == b["curves"]
    assert a["curves"]["train_loss"] != c["curves"]["train_loss"]
    assert len(a["curves"]["step"]) == 2 and len(a["curves"]["cosine"][0]) == 3
    assert all(-1 <= v <= 1 for v in a["final_cosine"])


def test_divergence_is_reported_not_raised():
    out = run_cell({**TINY, "method": "sg", "modules": 1, "lr": 1e30})
    assert out["status"] == "diverged"
    assert out["final_test_acc"] is None and out["diverged_step"] >= 1


def test_amp_and_cnn_path_on_cpu(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        with open(folder / name, "wb") as fh:
            doc = {b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8),
                   b"labels": list(range(8))}  # fmt: skip
            pickle.dump(doc, fh)
    cfg = {**TINY, "dataset": "cifar10", "data_dir": str(tmp_path), "channels": [4, 4, 4],
           "module_width": 4, "batch_size": 8, "steps": 2, "eval_every": 2,
           "monitor_size": 8}  # fmt: skip
    out = run_cell({**cfg, "method": "sobolev", "modules": 3, "amp": True, "device": "cpu"})
    assert out["status"] == "ok" and len(out["final_cosine"]) == 3


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"method": "dni"}, "method must be one of"),
        ({"dataset": "svhn"}, "dataset must be one of"),
        ({"modules": 2}, "modules must be one of"),
        ({"steps": -5}, "steps must be an integer >= 1"),
        ({"lr": 0}, "lr must be a finite number > 0"),
        ({"device": "tpu"}, "device must be one of"),
        ({"sobolev_weights": [1.0]}, "sobolev_weights"),
        ({"stepz": 3}, "unknown config key"),
    ],
)
def test_invalid_config_is_refused_before_training(override, match):
    with pytest.raises(ValueError, match=match):
        validate_cell(override)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("seeds", True, "seeds must be an integer >= 1"),
        ("seeds", 0, "seeds must be an integer >= 1"),
        ("steps", 2.0, "steps must be an integer >= 1"),
        ("modules", (1, 4), "modules must be one of"),
        ("modules", (True,), "modules must be one of"),
        ("methods", ("backprop", "nope"), "methods must be one of"),
        ("methods", ("sg", "sg"), "without repeats"),
        ("conditioned", 1, "conditioned must be True or False"),
        ("lr", True, "lr must be a finite number > 0"),
        ("hidden", (64, 64), "hidden must be a list of 3"),
        ("critic_activation", "swish", "critic_activation must be one of"),
    ],
)
def test_invalid_study_config_is_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        SGConfig(**{field: value})


def test_cell_defaults_normalise_numbers():
    cell = validate_cell({"sobolev_weights": [1, 2], "lr": 1, "hidden": (8, np.int64(8), 8)})
    assert cell["sobolev_weights"] == [1.0, 2.0] and isinstance(cell["lr"], float)
    assert cell["hidden"] == [8, 8, 8] and type(cell["hidden"][1]) is int
    assert (cell["method"], cell["modules"], cell["seed"]) == ("sobolev", 3, 0)


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


def test_aggregate_mean_and_standard_error():
    def cell(acc, status="ok"):
        return {"status": status, "final_test_acc": acc if status == "ok" else None,
                "final_cosine": [0.5] if status == "ok" else None, "seconds_per_step": 0.1,
                "curves": {"step": [1], "test_acc": [acc], "train_loss": [1.0],
                           "cosine": [[0.5]]}}  # fmt: skip

    configs = [{"dataset": "digits", "method": "sg", "modules": 1, "seed": s} for s in range(4)]
    out = aggregate([cell(0.9), cell(0.8), cell(0.7, "diverged"), None], configs)
    (row,) = out["summary"]
    assert row["n_ok"] == 2 and row["n_diverged"] == 1 and row["n_failed"] == 1
    assert row["test_acc_mean"] == pytest.approx(0.85)
    assert row["test_acc_se"] == pytest.approx(np.std([0.9, 0.8], ddof=1) / np.sqrt(2))
