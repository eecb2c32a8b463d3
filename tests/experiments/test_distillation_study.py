"""The distillation study under the Study contract: config, cells, summary, runs, shipped files."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sobolev_lab.cli import main
from sobolev_lab.experiments.distillation import STUDY
from sobolev_lab.experiments.distillation.config import METHODS, DistillationConfig
from sobolev_lab.experiments.distillation.study import cells, run_cell
from sobolev_lab.experiments.distillation.summary import (
    _mean_sem,
    render,
    summarise,
    wall_time_reading,
)
from sobolev_lab.experiments.distillation.teachers import read_manifest
from sobolev_lab.results import read_result

RESULTS = Path(__file__).resolve().parents[2] / "results" / "distillation"
#: Shipped runs of the earlier design (random state split, untuned regular baseline).
LEGACY = ("full-v1", "full_1500", "full_output_side", "full_1500_output_side")


def test_study_config_validation():
    for key, bad, match in [
        ("methods", ["jacobian"], "methods"),
        ("students", ["resnet"], "students"),
        ("fractions", [0.7], "fractions must lie in"),
        ("fractions", [0.1, 0.1], "fractions must not repeat"),
        ("steps", 0, "steps"),
        ("steps", True, "steps"),
        ("seeds", 2.0, "seeds"),
        ("pool_size", 99, "pool_size"),
        ("games", ["pong"], "unknown game"),
        ("games", [], "games must not be empty"),
        ("lr", 0.0, "lr"),
        ("lr", float("nan"), "lr"),
        ("epsilon", 1.5, "epsilon"),
        ("budget_factor", 0.5, "budget_factor"),
        ("weight_decays", [0.0, 1.0], "budget gives every method exactly"),
        ("noise_scales", [-1.0, 0.1, 0.2], "noise_scales"),
        ("sobolev_weights", [1.0, 1.0, 2.0], "sobolev_weights must not repeat"),
        ("eval_every", 200, "eval_every"),
        ("val_fraction", 0.7, "below 1"),
        ("test_fraction", 1.0, "test_fraction"),
        ("device", "tpu9", "device must be"),
    ]:
        with pytest.raises(ValueError, match=match):
            DistillationConfig(**{key: bad})
    with pytest.raises(ValueError, match="preset"):
        STUDY.preset("huge")
    with pytest.raises(ValueError, match="--set steps: expected int"):
        STUDY.preset("quick", ["steps=True"])
    assert STUDY.preset("quick", ["lr=0.01"]).lr == 0.01
    assert STUDY.preset("full") == DistillationConfig()
    config = DistillationConfig()
    assert config.seeds >= 5 and set(config.methods) == set(METHODS)
    assert {len(config.trials(m)) for m in METHODS} == {3}  # equal tuning budgets


def test_cells_order_budgets_and_trials():
    config = DistillationConfig()
    cs = cells(config)
    kinds = [c["kind"] for c in cs]
    n_ret = 2 * len(config.games) * config.seeds
    assert kinds[:n_ret] == ["teacher", "random"] * (n_ret // 2)
    students = cs[n_ret:]
    assert len(students) == 3 * 4 * 2 * 4 * config.seeds == kinds.count("student")
    # Fraction by fraction, then game: a stopped run holds whole blocks.
    blocks = [(c["fraction"], c["game"]) for c in students]
    assert blocks == sorted(
        blocks, key=lambda b: (config.fractions.index(b[0]), config.games.index(b[1]))
    )
    for c in students:
        assert c["budget"] == (
            math.ceil(2.5 * c["steps"]) if c["method"] == "regular" else c["steps"]
        )
        assert len(c["trials"]) == 3
    keys = {(c["game"], c["fraction"], c["student"], c["method"], c["seed"]) for c in students}
    assert len(keys) == len(students)


def _trial(val, test, seconds, hp, early=True, steps=None):
    steps = steps or [10 * (i + 1) for i in range(len(val))]
    running = np.minimum.accumulate(val)
    best = [True, *(running[1:] < running[:-1])]
    i = int(np.argmin(val))
    return {
        "hp": hp,
        "converged": True,
        "best_step": steps[i],
        "best_val_kl": float(val[i]),
        "stopped_step": steps[-1],
        "early_stopped": early,
        "diverged": False,
        "sobolev_weight": 0.0,
        "prepare_seconds": 0.5,
        "train_seconds": seconds[-1] - 0.5,
        "seconds_per_step": 0.01,
        "curve": {
            "step": steps,
            "val_kl": list(val),
            "test_kl": [t if b else None for t, b in zip(test, best, strict=True)],
            "test_action_error": [0.1 if b else None for b in best],
            "train_loss": list(val),
            "seconds": list(seconds),
        },
    }


def _payload(kl, err, seconds=(1.0, 2.0, 3.0)):
    trial = _trial([2 * kl, kl, 1.5 * kl], [2 * kl, kl, 1.5 * kl], seconds, {"weight_decay": 0.0})
    return {
        "n_train": 10,
        "n_val": 5,
        "n_test": 5,
        "selection": {"chosen": {"weight_decay": 0.0}, "index": 0},
        "test_kl": kl,
        "test_action_error": err,
        "test_jacobian_rel_error": 0.5,
        "returns": [1.0, 2.0, 3.0],
        "mean_return": 2.0,
        "return_sem": 0.58,
        "trials": [trial],
        "pool_seconds": 0.0,
        "cpu_seconds": 1.0,
    }


def _fake(seed_values):
    """Cells and payloads of one game, fraction and student: {method: {seed: (kl, err)}}."""
    cs, ps = [], []
    for method, per_seed in seed_values.items():
        for seed, (kl, err) in per_seed.items():
            cs.append(
                {"game": "breakout", "kind": "student", "fraction": 0.1, "student": "conv"}
                | {"method": method, "seed": seed}
            )
            ps.append(_payload(kl, err))
    for kind in ("teacher", "random"):
        cs.append({"game": "breakout", "kind": kind, "seed": 0})
        ps.append({"returns": [3.0, 5.0], "mean_return": 4.0})
    return cs, ps


def test_wall_time_reading_picks_the_best_validation_checkpoint_within_the_time():
    fast = _trial([0.5, 0.3, 0.2, 0.25], [0.6, 0.35, 0.22, 0.3], [1, 2, 3, 4], {}, early=True)
    slow = _trial([0.4, 0.1], [0.45, 0.12], [2.5, 5.0], {}, early=False)
    assert wall_time_reading([fast, slow], 2.6) == (0.35, False)  # fast at 2 s beats slow at 2.5
    assert wall_time_reading([fast, slow], 3.0) == (0.22, False)
    assert wall_time_reading([fast, slow], 6.0) == (0.12, True)  # slow ran its whole budget
    assert wall_time_reading([fast], 99.0) == (0.22, False)  # stopped early: not capped
    assert wall_time_reading([fast], 0.5)[0] == math.inf


def test_verdicts_are_paired_by_seed_against_an_independent_reference():
    reg = {0: (0.30, 0.20), 1: (0.50, 0.10), 2: (0.20, 0.30)}
    sob = {2: (0.10, 0.25), 0: (0.11, 0.10), 1: (0.24, 0.05)}  # listed out of seed order
    noise = {s: (0.2, 0.2) for s in range(3)}
    config = DistillationConfig(games=["breakout"], fractions=[0.1], students=["conv"], seeds=3)
    cs, ps = _fake({"sobolev_input": sob, "regular": reg, "noise": noise})
    summary = summarise(config, cs, ps)
    by = {(v["method"], v["baseline"], v["metric"]): v for v in summary["verdicts"]}
    kl = by[("sobolev_input", "regular", "test_kl")]
    logs = np.log([reg[s][0] / sob[s][0] for s in range(3)], dtype=np.float64)
    assert kl["ratio"] == pytest.approx(math.exp(logs.mean()), rel=1e-12)
    half = 4.302652729749462 * logs.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 dof)
    assert kl["ci95"] == pytest.approx([math.exp(logs.mean() - half), math.exp(logs.mean() + half)])
    assert kl["cell"] == {"game": "breakout", "fraction": 0.1, "student": "conv"}
    assert kl["n_seeds"] == 3
    vs_noise = by[("sobolev_input", "noise", "test_action_error")]
    assert vs_noise["ratio"] == pytest.approx(
        math.exp(np.mean(np.log([0.2 / sob[s][1] for s in range(3)]))), rel=1e-12
    )
    assert {v["verdict"] for v in summary["verdicts"]} <= {"win", "loss", "tie"}
    # No output-side students here: no output-side verdicts.
    assert not any(v["method"] == "sobolev_output" for v in summary["verdicts"])
    # Equal wall time: every fake training stops at 3 s with its best test KL at 2 s.
    wall = by[("sobolev_input", "regular@sobolev_input", "test_kl")]
    assert wall["ratio"] == pytest.approx(kl["ratio"], rel=1e-12)
    assert summary["equal_wall_time"] == {"readings": 3, "capped": 0}
    assert summary["convergence"]["trainings"] == 9 and summary["convergence"]["converged"] == 9
    assert "last quarter" in summary["convergence"]["criterion"]
    row = next(r for r in summary["rows"] if r["method"] == "regular")
    assert row["episodes"] == 9 and row["mean_return"] == 2.0
    assert row["chosen"] == "weight_decay=0 x3" and row["teacher_return"] == 4.0
    ret = next(r for r in summary["returns"] if r["baseline"] == "regular")
    assert ret["difference"] == 0.0 and ret["detectable"] > 0 and not ret["significant"]


def test_table_format():
    assert _mean_sem(0.3103223443031311, 0.01707817399187322) == "0.31 ± 0.017"
    assert _mean_sem(4.5555, None) == "4.56" and _mean_sem(None, None) == "-"
    config = DistillationConfig(games=["breakout"], fractions=[0.1], students=["conv"], seeds=3)
    reg = {s: (0.3 + 0.01 * s, 0.2) for s in range(3)}
    sob = {s: (0.1 + 0.01 * s, 0.1) for s in range(3)}
    tables = render(config, summarise(config, *_fake({"regular": reg, "sobolev_input": sob})))
    assert set(tables) == {"result.csv", "result.md", "curves.csv", "returns.csv"}
    md = tables["result.md"]
    assert "| breakout | 0.1 (10) | conv | 0.31 ± 0.0058 | **0.11 ± 0.0058** |" in md
    assert "## Verdicts" in md and "Chosen hyperparameters" in md
    assert tables["curves.csv"].splitlines()[0].startswith("game,fraction,student,method,seed,step")


def test_run_cell_reproducible_and_records_selection():
    cell = next(
        c
        for c in cells(STUDY.preset("quick"))
        if c["kind"] == "student" and c["method"] == "sobolev_input" and c["student"] == "mlp"
    )
    cell = {**cell, "steps": 20, "budget": 20, "episodes": 1, "max_steps": 50}
    a, b = run_cell(cell), run_cell(cell)
    for key in ("test_kl", "test_action_error", "test_jacobian_rel_error", "mean_return"):
        assert a[key] == b[key], key
    assert [t["curve"]["val_kl"] for t in a["trials"]] == [
        t["curve"]["val_kl"] for t in b["trials"]
    ]
    sel = a["selection"]
    assert sel["n_trials"] == 2 and sel["chosen"] == cell["trials"][sel["index"]]
    assert sel["cv_score"] == min(t["best_val_kl"] for t in a["trials"])
    assert a["n_train"] + a["n_val"] + a["n_test"] <= cell["pool_size"]
    assert a["cpu_seconds"] > 0


def test_quick_preset_end_to_end(tmp_path, capsys):
    assert main(["run", "distillation", "--out", str(tmp_path), "--no-progress"]) == 0
    folder = tmp_path / "distillation" / "quick"
    payload = read_result(folder / "result.json")["payload"]
    rows = payload["rows"]
    assert {(r["fraction"], r["student"], r["method"]) for r in rows} == {
        (f, s, m) for f in (0.05, 0.5) for s in ("conv", "mlp") for m in METHODS
    }
    for r in rows:
        assert r["test_kl"] > 0 and 0 <= r["test_action_error"] <= 1
        assert np.isfinite(r["teacher_return"]) and r["test_kl_sem"] is None
    verdicts = payload["verdicts"]
    assert len(verdicts) == 2 * 2 * 4 * 2 + 2 * 4  # (method, baseline, metric) x cells + wall
    assert all(v["verdict"] == "tie" and v["n_seeds"] == 1 for v in verdicts)  # one seed
    conv = payload["convergence"]
    assert conv["trainings"] == 16 * 2 and 0 <= conv["converged"] <= 32
    table = (folder / "result.md").read_text()
    assert "| breakout | 0.05 (30) | conv |" in table and "## Verdicts" in table
    # Resuming reuses every cell; report rebuilds the same tables without training.
    assert main(["run", "distillation", "--out", str(tmp_path), "--no-progress"]) == 0
    again = read_result(folder / "result.json")["payload"]
    assert again["timing"]["cells_computed"] == 0 and again["rows"] == rows
    before = (folder / "result.md").read_text()
    (folder / "result.md").unlink()
    assert main(["report", "distillation", "--out", str(tmp_path)]) == 0
    assert (folder / "result.md").read_text() == before
    capsys.readouterr()


def test_legacy_shipped_runs_keep_their_numbers():
    """The runs of the earlier design stay as shipped: tables and stored rows agree."""
    for name in LEGACY:
        doc = read_result(RESULTS / name / "result.json")["payload"]
        assert len(doc["verdicts"]) == 24 and doc["convergence"]["trainings"] == 72
        csv = (RESULTS / name / "result.csv").read_text().splitlines()
        assert len(csv) == 1 + len(doc["rows"]) == 25
    full = read_result(RESULTS / "full-v1" / "result.json")["payload"]
    row = next(r for r in full["rows"] if (r["game"], r["fraction"]) == ("breakout", 0.01))
    assert row["method"] == "regular" and row["test_kl"] == pytest.approx(0.3103223443031311)


def test_bad_device_is_one_line(tmp_path, capsys):
    args = ["run", "distillation", "--out", str(tmp_path), "--no-progress", "--set"]
    assert main([*args, "device=tpu9"]) == 2
    assert "device must be" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*args, "device=cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_teachers_list_command(tmp_path, capsys):
    assert main(["teachers", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    manifest = read_manifest()
    assert len(out) == len(manifest)
    for line, (game, entry) in zip(out, sorted(manifest.items()), strict=True):
        assert line.startswith(game) and entry["sha256"][:12] in line
        assert f"{entry['mean_return']['mean']:7.2f}" in line
    assert main(["teachers", "list", "--teacher-dir", str(tmp_path)]) == 0
    assert "sobolev teachers train --game GAME" in capsys.readouterr().out
    assert main(["teachers"]) == 2  # no sub-command: help, usage error
