"""Policy distillation: losses, teachers, pools, minibatches, errors, reproducibility.

The study (config, cells, summary, runs through ``sobolev run``) is tested in
``test_distillation_study.py``.
"""

import shutil
import sys

import numpy as np
import pytest
import torch

import sobolev as sb
from sobolev._training import minibatches
from sobolev_lab.cli import main
from sobolev_lab.experiments.distillation.distill import _batches, distill, teacher_jacobians
from sobolev_lab.experiments.distillation.envs import (
    GAMES,
    DistillationError,
    check_game,
    play,
    require_minatar,
)
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_pool
from sobolev_lab.experiments.distillation.student import StudentNet, flat_log_policy, kl_divergence
from sobolev_lab.experiments.distillation.teachers import (
    TEACHER_DIR,
    PPOConfig,
    TeacherNet,
    load_teacher,
    read_manifest,
    sha256,
)
from sobolev_lab.experiments.distillation.teachers.ppo import train_ppo

SHAPE = (10, 10, 4)  # Breakout


def random_teacher(seed=0):
    torch.manual_seed(seed)
    return TeacherNet(SHAPE[2], 3).eval().requires_grad_(False)


def test_kl_divergence_matches_definition_float64(float64):
    g = torch.Generator().manual_seed(0)
    lt = torch.log_softmax(torch.randn(50, 4, generator=g), 1)
    ls = torch.log_softmax(torch.randn(50, 4, generator=g), 1)
    expected = (lt.exp() * (lt - ls)).sum(1).mean()
    assert torch.allclose(kl_divergence(lt, ls), expected, rtol=1e-12)
    ref = torch.nn.functional.kl_div(ls, lt, log_target=True, reduction="batchmean")
    assert torch.allclose(kl_divergence(lt, ls), ref, rtol=1e-12)
    assert float(kl_divergence(lt, lt)) == 0.0
    assert float(kl_divergence(lt, ls)) > 0.0


def test_flat_log_policy_is_shift_invariant_and_normalised(float64):
    net = StudentNet(SHAPE[2], 3).double()
    fn = flat_log_policy(net, SHAPE)
    shifted = flat_log_policy(lambda o: net(o) + o.sum((1, 2, 3))[:, None], SHAPE)
    x = (torch.rand(8, 400, generator=torch.Generator().manual_seed(1)) < 0.2).double()
    assert fn(x).shape == (8, 3)
    assert torch.allclose(fn(x).exp().sum(1), torch.ones(8, dtype=torch.float64))
    # A state-dependent logit shift changes neither log-probabilities nor their Jacobian.
    assert torch.allclose(fn(x), shifted(x), atol=1e-12)
    J1 = sb.value_and_jacobian(fn, x, create_graph=False)[1]
    J2 = sb.value_and_jacobian(shifted, x, create_graph=False)[1]
    assert torch.allclose(J1, J2, atol=1e-10)


@pytest.mark.parametrize("side", ["output", "input"])
def test_precomputed_teacher_jacobians_equal_autodiff(side, float64):
    teacher = random_teacher().double()
    t_logp = flat_log_policy(teacher.logits, SHAPE)
    student = StudentNet(SHAPE[2], 3).double()
    s_logp = flat_log_policy(student, SHAPE)
    x = (torch.rand(16, 400, generator=torch.Generator().manual_seed(2)) < 0.1).double()
    arrays = sb.Target.from_arrays(t_logp(x).detach(), teacher_jacobians(t_logp, x, 5))
    loss = sb.SobolevLoss(order=1, weights=[0.0, 1.0], projections=1, side=side)
    a = loss(s_logp, x, arrays, generator=torch.Generator().manual_seed(3))
    b = loss(s_logp, x, sb.Target.from_function(t_logp), generator=torch.Generator().manual_seed(3))
    assert float(a.detach()) > 0
    assert torch.allclose(a, b, rtol=1e-10)


def test_student_forward_mode_rule_equals_autodiff(float64):
    """The stacked primal/tangent pass against the double-VJP trick and against
    central differences, values, J v and parameter gradients of a loss on J v."""
    student = StudentNet(SHAPE[2], 3).double()
    s_logp = flat_log_policy(student, SHAPE)
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(12, 400, generator=gen) < 0.2).double()
    v = torch.randn(12, 400, generator=gen, dtype=torch.float64)
    y, Jv = s_logp.value_and_jvp(x, v)
    y_ad, Jv_ad = sb.value_and_jvp(s_logp, x, v, custom=False)
    torch.testing.assert_close(y, y_ad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(Jv, Jv_ad, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        eps = 1e-6
        fd = (s_logp(x + eps * v) - s_logp(x - eps * v)) / (2 * eps)
    torch.testing.assert_close(Jv.detach(), fd, rtol=1e-5, atol=1e-7)
    params = list(student.parameters())
    g = torch.autograd.grad((Jv**2).sum() + y.sum(), params)
    g_ad = torch.autograd.grad((Jv_ad**2).sum() + y_ad.sum(), params)
    for a, b in zip(g, g_ad, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert not hasattr(flat_log_policy(random_teacher().logits, SHAPE), "value_and_jvp")


def test_split_pool_disjoint_and_sized():
    train, test = split_pool(1000, 0.1, test_fraction=0.5, seed=3)
    assert len(train) == 100 and len(test) == 500
    assert not set(train) & set(test)
    train2, test2 = split_pool(1000, 0.5, test_fraction=0.5, seed=3)
    assert np.array_equal(test, test2) and set(train) <= set(train2)
    with pytest.raises(ValueError, match="fraction"):
        split_pool(1000, 0.6, test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        split_pool(1000, 0.1, test_fraction=1.0, seed=0)


def test_record_pool_deterministic_and_diverse():
    teacher = random_teacher()
    a = record_pool(teacher.logits, "breakout", 300, seed=5, parallel=4)
    b = record_pool(teacher.logits, "breakout", 300, seed=5, parallel=4)
    assert a.shape == (300, *SHAPE) and a.dtype == bool
    assert np.array_equal(a, b)
    assert len(np.unique(a.reshape(300, -1), axis=0)) > 100
    with pytest.raises(ValueError, match="epsilon"):
        record_pool(teacher.logits, "breakout", 10, seed=0, epsilon=2.0)


def test_play_is_seeded_and_random_policy_scores_low():
    r1 = play(None, "breakout", episodes=4, seed=1, max_steps=200)
    r2 = play(None, "breakout", episodes=4, seed=1, max_steps=200)
    assert np.array_equal(r1, r2) and r1.shape == (4,)
    assert r1.mean() < 3


def _distill(method, seed=0, **kw):
    teacher = random_teacher()
    states = record_pool(teacher.logits, "breakout", 600, seed=0)
    tr, te = split_pool(600, 0.5, test_fraction=0.5, seed=seed)
    return distill(
        teacher,
        SHAPE,
        3,
        as_flat(states[tr]),
        as_flat(states[te]),
        method=method,
        steps=40,
        seed=seed,
        batch_size=64,
        eval_every=10,
        jacobian_states=100,
        **kw,
    )


def test_distill_is_reproducible_on_cpu():
    _, a = _distill("sobolev")
    _, b = _distill("sobolev")
    assert a["curve"] == b["curve"] and a["test"] == b["test"]
    _, c = _distill("sobolev", seed=1)
    assert c["test"] != a["test"]


def test_sobolev_term_matches_teacher_jacobian_better():
    _, reg = _distill("regular")
    _, sob = _distill("sobolev")
    assert all(np.isfinite(reg["curve"]["test_kl"])) and len(reg["curve"]["step"]) == 4
    assert sob["test"]["jacobian_rel_error"] < 0.8 * reg["test"]["jacobian_rel_error"]
    assert reg["sobolev_weight"] == 0.0 and sob["sobolev_weight"] > 0.0


def test_distill_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        _distill("jacobian")
    with pytest.raises(ValueError, match="sobolev_weight"):
        _distill("sobolev", sobolev_weight=-1.0)
    with pytest.raises(ValueError, match="side"):
        _distill("sobolev", side="both")


def test_ppo_is_reproducible():
    cfg = PPOConfig(frames=2048, n_envs=8, n_steps=64, minibatch=256, epochs=1)
    a, _ = train_ppo("breakout", cfg, seed=3, progress=False)
    b, _ = train_ppo("breakout", cfg, seed=3, progress=False)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_shipped_teachers_load_verify_and_beat_random():
    manifest = read_manifest()
    assert {"breakout", "space_invaders"} <= set(manifest)
    assert {"freeway", "asterix"} & set(manifest)
    for game, entry in manifest.items():
        assert sha256(TEACHER_DIR / entry["file"]) == entry["sha256"]
        assert (TEACHER_DIR / entry["file"]).stat().st_size < 1_000_000
        net, _ = load_teacher(game)
        assert not any(p.requires_grad for p in net.parameters())
        assert entry["mean_return"]["mean"] > entry["random_return"]["mean"]
        assert {"ppo_config", "seed", "random_return"} <= set(entry)


def test_missing_and_corrupt_teacher_errors(tmp_path):
    with pytest.raises(
        DistillationError, match="no teacher for 'breakout'.*sobolev teachers train"
    ):
        load_teacher("breakout", tmp_path)
    shutil.copy(TEACHER_DIR / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(DistillationError, match="missing.*teachers train --game breakout"):
        load_teacher("breakout", tmp_path)
    entry = read_manifest()["breakout"]
    (tmp_path / "weights").mkdir()
    data = bytearray((TEACHER_DIR / entry["file"]).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(DistillationError, match="corrupt"):
        load_teacher("breakout", tmp_path)


def test_unknown_game_error_and_cli_line(capsys):
    with pytest.raises(DistillationError, match="unknown game 'pong'.*breakout"):
        check_game("pong")
    assert set(GAMES) >= {"breakout", "space_invaders", "freeway", "asterix"}
    assert main(["teachers", "train", "--game", "pong"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown game 'pong'" in err[0]
    assert main(["run", "distillation", "--set", "games=pong", "--no-progress"]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_missing_teacher_cli_line(tmp_path, capsys):
    code = main(["run", "distillation", "--set", f"teacher_dir={tmp_path}", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sobolev teachers train --game breakout" in err[0]
    assert not (tmp_path / "distillation").exists()  # refused before any cell ran


def test_missing_minatar_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "minatar", None)  # makes `import minatar` fail
    with pytest.raises(DistillationError, match=r"pip install 'sobolev-training\[rl\]'"):
        require_minatar()
    assert main(["run", "distillation", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MinAtar is not installed" in err[0]


def _old_batches(n, batch_size, gen):
    """The sampler the shipped results were computed with (reference for the draws)."""
    while True:
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n - batch_size + 1, batch_size):
            yield perm[s : s + batch_size]


@pytest.mark.parametrize(
    ("n", "batch_size"), [(500, 128), (5000, 128), (129, 128), (7, 3), (100, 100)]
)
def test_minibatches_draw_what_the_shipped_results_drew(n, batch_size):
    new = _batches(n, batch_size, torch.Generator().manual_seed(5))
    old = _old_batches(n, batch_size, torch.Generator().manual_seed(5))
    steps = [(next(new), next(old)) for _ in range(3 * (n // batch_size) + 5)]
    assert all(torch.equal(a, b) for a, b in steps)
    if batch_size < n:  # the library's sampler, draw for draw
        lib = minibatches(n, batch_size, torch.Generator().manual_seed(5))
        again = _batches(n, batch_size, torch.Generator().manual_seed(5))
        assert all(torch.equal(next(lib), next(again)) for _ in range(50))
    else:  # a full batch is reshuffled each step, every index once
        a, b = next(new), next(new)
        assert sorted(a.tolist()) == list(range(n)) and not torch.equal(a, b)
