"""Policy distillation: losses, students, teachers, pools and their episode split,
minibatches, early stopping, the noise-augmented baseline, errors, reproducibility.

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
from sobolev_lab.experiments.distillation.distill import (
    Prepared,
    _batches,
    _noisy_copies,
    distill,
    teacher_jacobians,
)
from sobolev_lab.experiments.distillation.envs import (
    GAMES,
    DistillationError,
    check_game,
    play,
    require_minatar,
)
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_by_episode
from sobolev_lab.experiments.distillation.student import (
    MLPStudent,
    StudentNet,
    flat_log_policy,
    kl_divergence,
    make_student,
)
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


@pytest.mark.parametrize("kind", ["conv", "mlp"])
def test_student_forward_mode_rule_equals_autodiff(kind, float64):
    """The stacked primal/tangent pass against the double-VJP trick and against
    central differences, values, J v and parameter gradients of a loss on J v."""
    student = make_student(kind, SHAPE, 3).double()
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


def test_mlp_student_is_not_a_conv_and_make_student_checks_kind():
    mlp = make_student("mlp", SHAPE, 3, mlp_hidden=32)
    assert isinstance(mlp, MLPStudent) and not any(
        isinstance(m, torch.nn.Conv2d) for m in mlp.modules()
    )
    assert mlp.layers[0].in_features == 400 and mlp.policy.out_features == 3
    assert isinstance(make_student("conv", SHAPE, 3), StudentNet)
    with pytest.raises(ValueError, match="student must be one of conv, mlp"):
        make_student("resnet", SHAPE, 3)


def _episodes(lengths):
    return np.concatenate([np.full(n, e) for e, n in enumerate(lengths)])


def test_split_by_episode_keeps_episodes_whole_and_sides_sized():
    rng = np.random.default_rng(0)
    episodes = _episodes(rng.integers(5, 40, size=60))
    n = episodes.size
    train, val, test = split_by_episode(episodes, 0.1, val_fraction=0.1, test_fraction=0.3, seed=3)
    sides = [set(episodes[i]) for i in (train, val, test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    # Whole episodes: every state of a validation or test episode is on that side.
    for idx, eps in ((val, sides[1]), (test, sides[2])):
        assert set(idx) == set(np.flatnonzero(np.isin(episodes, list(eps))))
    assert len(train) == round(0.1 * n)
    assert 0.3 * n <= len(test) < 0.3 * n + 40 and 0.1 * n <= len(val) < 0.1 * n + 40
    # Nested training sets, shared validation and test states across fractions.
    train2, val2, test2 = split_by_episode(
        episodes, 0.4, val_fraction=0.1, test_fraction=0.3, seed=3
    )
    assert np.array_equal(val, val2) and np.array_equal(test, test2)
    assert np.array_equal(train2[: len(train)], train)
    other = split_by_episode(episodes, 0.1, val_fraction=0.1, test_fraction=0.3, seed=4)
    assert not np.array_equal(other[2], test)


def test_split_by_episode_errors():
    episodes = _episodes([10] * 20)
    with pytest.raises(ValueError, match="fraction must lie in"):
        split_by_episode(episodes, 0.7, val_fraction=0.1, test_fraction=0.3, seed=0)
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction"):
        split_by_episode(episodes, 0.1, val_fraction=0.5, test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_episode(episodes, 0.1, val_fraction=0.1, test_fraction=1.0, seed=0)
    with pytest.raises(ValueError, match="too few"):
        split_by_episode(_episodes([50, 50]), 0.1, val_fraction=0.1, test_fraction=0.3, seed=0)
    # Whole episodes can leave fewer training states than a fraction asks for.
    with pytest.raises(ValueError, match="training episodes"):
        split_by_episode(
            _episodes([25, 25, 25, 25]), 0.5, val_fraction=0.2, test_fraction=0.3, seed=0
        )


def test_record_pool_deterministic_diverse_with_episode_ids():
    teacher = random_teacher()
    a, ea = record_pool(teacher.logits, "breakout", 300, seed=5, parallel=4)
    b, eb = record_pool(teacher.logits, "breakout", 300, seed=5, parallel=4)
    assert a.shape == (300, *SHAPE) and a.dtype == bool and ea.shape == (300,)
    assert np.array_equal(a, b) and np.array_equal(ea, eb)
    assert len(np.unique(a.reshape(300, -1), axis=0)) > 100
    # Environment i fills rows i, i + 4, ...; its episode id only grows, and a new id
    # starts on the reset frame, which is the same in every Breakout episode here.
    assert list(ea[:4]) == [0, 1, 2, 3] and ea.max() >= 4
    for i in range(4):
        col = ea[i::4]
        assert np.all(np.diff(col) >= 0)
    assert len(np.unique(ea)) == ea.max() + 1
    with pytest.raises(ValueError, match="epsilon"):
        record_pool(teacher.logits, "breakout", 10, seed=0, epsilon=2.0)


def test_play_is_seeded_and_random_policy_scores_low():
    r1 = play(None, "breakout", episodes=4, seed=1, max_steps=200)
    r2 = play(None, "breakout", episodes=4, seed=1, max_steps=200)
    assert np.array_equal(r1, r2) and r1.shape == (4,)
    assert r1.mean() < 3


@pytest.fixture(scope="module")
def pool():
    teacher = random_teacher()
    states, episodes = record_pool(teacher.logits, "breakout", 600, seed=0)
    return teacher, states, episodes


def _prepared(pool, method, seed=0, fraction=0.3):
    teacher, states, episodes = pool
    tr, va, te = split_by_episode(
        episodes, fraction, val_fraction=0.2, test_fraction=0.3, seed=seed
    )
    t_logp = flat_log_policy(teacher.logits, SHAPE)
    return Prepared(t_logp, *(as_flat(states[i]) for i in (tr, va, te)), method)


def _distill(pool, method, seed=0, **kw):
    kw = {"steps": 40, "eval_every": 10, "batch_size": 64, **kw}
    return distill(_prepared(pool, method, seed), SHAPE, 3, method=method, seed=seed, **kw)


def test_distill_is_reproducible_on_cpu(pool):
    _, a = _distill(pool, "sobolev_input")
    _, b = _distill(pool, "sobolev_input")
    assert a["curve"]["val_kl"] == b["curve"]["val_kl"]
    assert a["curve"]["test_kl"] == b["curve"]["test_kl"]
    _, c = _distill(pool, "sobolev_input", seed=1)
    assert c["curve"]["val_kl"] != a["curve"]["val_kl"]


@pytest.mark.parametrize("method", ["sobolev_input", "sobolev_output"])
def test_sobolev_term_matches_teacher_jacobian_better(pool, method):
    from sobolev_lab.experiments.distillation.distill import policy_metrics

    out = {}
    for m in ("regular", method):
        prep = _prepared(pool, m)
        net, info = distill(prep, SHAPE, 3, method=m, seed=0, steps=60, eval_every=10)
        out[m] = (
            policy_metrics(prep.teacher_logp, flat_log_policy(net, SHAPE), prep.x_test, 100),
            info,
        )
    assert out[method][0]["jacobian_rel_error"] < 0.8 * out["regular"][0]["jacobian_rel_error"]
    assert out["regular"][1]["sobolev_weight"] == 0.0 and out[method][1]["sobolev_weight"] > 0.0
    assert out[method][1]["prepare_seconds"] > out["regular"][1]["prepare_seconds"]


def test_early_stopping_restores_the_best_validation_student(pool):
    prep = _prepared(pool, "regular", fraction=0.02)
    net, info = distill(
        prep, SHAPE, 3, method="regular", seed=0, steps=600, eval_every=5, patience=2, lr=3e-2
    )
    c = info["curve"]
    assert info["early_stopped"] and info["stopped_step"] < 600
    assert (
        info["best_val_kl"] == min(c["val_kl"])
        and c["step"][np.argmin(c["val_kl"])] == info["best_step"]
    )
    with torch.no_grad():
        again = kl_divergence(prep.logp_val, flat_log_policy(net, SHAPE)(prep.x_val))
    assert float(again) == pytest.approx(info["best_val_kl"], rel=1e-6)
    # Test scores exist exactly at new best validation KLs.
    running = np.minimum.accumulate(c["val_kl"])
    is_best = np.r_[True, running[1:] < running[:-1]]
    assert [t is not None for t in c["test_kl"]] == list(is_best)
    assert np.all(np.diff(c["seconds"]) > 0)


def test_budget_beyond_steps_scores_within_steps(pool):
    _, short = _distill(pool, "regular", steps=40)
    _, long = _distill(pool, "regular", steps=40, budget=80, patience=100)
    assert long["best_step"] <= 40 and long["stopped_step"] == 80
    assert long["curve"]["val_kl"][:4] == short["curve"]["val_kl"]
    assert long["best_val_kl"] == short["best_val_kl"]


def test_noise_copies_are_teacher_labelled_and_scale_zero_is_regular(pool):
    prep = _prepared(pool, "noise")
    x, logp = _noisy_copies(prep, 3, 0.5, seed=2)
    n, d = prep.x_train.shape
    assert x.shape == (n, 3, d) and logp.shape == (n, 3, 3)
    torch.testing.assert_close(logp[:, 1], prep.teacher_logp(x[:, 1]))
    assert 0.45 < float((x - prep.x_train[:, None]).std()) < 0.55
    # With scale 0 the copies repeat each state: the same mean KL as regular distillation.
    _, reg = _distill(pool, "regular")
    _, zero = _distill(pool, "noise", noise_scale=0.0)
    np.testing.assert_allclose(zero["curve"]["val_kl"], reg["curve"]["val_kl"], rtol=1e-3)


def test_distill_rejects_bad_arguments(pool):
    with pytest.raises(ValueError, match="method"):
        _distill(pool, "jacobian")
    with pytest.raises(ValueError, match="sobolev_weight"):
        _distill(pool, "sobolev_input", sobolev_weight=-1.0)
    with pytest.raises(ValueError, match="budget must be >= steps"):
        _distill(pool, "regular", budget=10)
    with pytest.raises(ValueError, match="patience"):
        _distill(pool, "regular", patience=0)


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
