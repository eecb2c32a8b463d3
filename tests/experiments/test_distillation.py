"""Policy distillation: losses, teachers, pools, errors, reproducibility, quick preset."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch

import sobolev as sb
from sobolev_lab.experiments.distillation.distill import distill, teacher_jacobians
from sobolev_lab.experiments.distillation.envs import (
    GAMES,
    DistillationError,
    check_game,
    play,
    require_minatar,
)
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_pool
from sobolev_lab.experiments.distillation.student import StudentNet, flat_log_policy, kl_divergence
from sobolev_lab.experiments.distillation.study import preset, run_cell, run_study
from sobolev_lab.experiments.distillation.teachers import (
    TEACHER_DIR,
    PPOConfig,
    TeacherNet,
    load_teacher,
    read_manifest,
    sha256,
)
from sobolev_lab.experiments.distillation.teachers.ppo import train_ppo
from sobolev_lab.cli import main
from sobolev_lab.results import read_result

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
    with pytest.raises(DistillationError, match="no teacher for 'breakout'.*train-teacher"):
        load_teacher("breakout", tmp_path)
    shutil.copy(TEACHER_DIR / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(DistillationError, match="missing.*train-teacher --game breakout"):
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
    assert main(["distill", "train-teacher", "--game", "pong"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown game 'pong'" in err[0]
    assert main(["distill", "run", "--games", "pong"]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_missing_teacher_cli_line(tmp_path, capsys):
    code = main(["distill", "run", "--teacher-dir", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sobolev distill train-teacher --game breakout" in err[0]


def test_missing_minatar_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "minatar", None)  # makes `import minatar` fail
    with pytest.raises(DistillationError, match=r"pip install 'sobolev-training\[rl\]'"):
        require_minatar()
    assert main(["distill", "run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MinAtar is not installed" in err[0]


def test_run_cell_reproducible():
    cfg = preset("quick")
    from sobolev_lab.experiments.distillation.study import build_cells

    cell = next(c for c in build_cells(cfg) if c["kind"] == "student" and c["method"] == "sobolev")
    cell = {**cell, "steps": 20, "episodes": 1, "max_steps": 50}
    a, b = run_cell(cell), run_cell(cell)
    for key in ("test_kl", "test_action_error", "test_jacobian_rel_error", "mean_return", "curve"):
        assert a[key] == b[key], key


def test_quick_preset_end_to_end(tmp_path):
    payload = run_study(preset("quick"), tmp_path, progress=False)
    doc = read_result(tmp_path / "quick.json")
    assert doc["payload"]["rows"] == payload["rows"]
    rows = payload["rows"]
    assert {(r["fraction"], r["method"]) for r in rows} == {
        (f, m) for f in (0.05, 0.5) for m in ("regular", "sobolev")
    }
    for r in rows:
        assert r["test_kl"] > 0 and 0 <= r["test_action_error"] <= 1
        assert np.isfinite(r["teacher_return"]) and r["test_kl_sem"] is None
    table = (tmp_path / "quick.md").read_text()
    assert "| breakout | 0.05 (50) |" in table
    header = (tmp_path / "quick_curves.csv").read_text().splitlines()[0]
    assert header == "game,fraction,method,seed,step,test_kl,train_loss"
    assert json.loads(json.dumps(payload["curves"][0]))["step"] == 25
    # Resuming reuses every cell.
    again = run_study(preset("quick"), tmp_path, progress=False)
    assert again["timing"]["cells_computed"] == 0 and again["rows"] == rows


def test_bad_device_is_one_line(tmp_path, capsys):
    assert main(["distill", "run", "--device", "tpu9", "--out", str(tmp_path)]) == 2
    assert "device must be" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["distill", "run", "--device", "cuda", "--out", str(tmp_path)]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_study_config_validation():
    from sobolev_lab.experiments.distillation.study import validate

    for key, bad, match in [
        ("methods", ["jacobian"], "methods"),
        ("fractions", [0.9], "fraction"),
        ("steps", 0, "steps"),
        ("games", ["pong"], "unknown game"),
    ]:
        with pytest.raises(ValueError, match=match):
            validate({**preset("quick"), key: bad})
    with pytest.raises(ValueError, match="preset"):
        preset("huge")
