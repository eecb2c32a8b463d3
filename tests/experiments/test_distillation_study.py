"""The distillation study under the Study contract: config, cells, summary, runs, shipped files."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sobolev_lab.cli import main
from sobolev_lab.experiments.distillation import STUDY
from sobolev_lab.experiments.distillation.config import DistillationConfig
from sobolev_lab.experiments.distillation.study import cells, run_cell
from sobolev_lab.experiments.distillation.summary import _mean_sem, render, summarise
from sobolev_lab.experiments.distillation.teachers import read_manifest
from sobolev_lab.results import read_result

RESULTS = Path(__file__).resolve().parents[2] / "results" / "distillation"
SHIPPED = ("full", "full_1500", "full_output_side", "full_1500_output_side")


def test_study_config_validation():
    for key, bad, match in [
        ("methods", ["jacobian"], "methods"),
        ("fractions", [0.9], "fraction"),
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
        ("sobolev_weight", -1.0, "sobolev_weight"),
        ("sobolev_weight", True, "sobolev_weight"),
        ("side", "both", "side"),
        ("device", "tpu9", "device must be"),
    ]:
        with pytest.raises(ValueError, match=match):
            DistillationConfig(**{key: bad})
    with pytest.raises(ValueError, match="preset"):
        STUDY.preset("huge")
    with pytest.raises(ValueError, match="--set steps: expected int"):
        STUDY.preset("quick", ["steps=True"])
    assert STUDY.preset("quick", ["sobolev_weight=0.5"]).sobolev_weight == 0.5
    assert STUDY.preset("full") == DistillationConfig()


def test_cells_of_the_shipped_configs_are_the_stored_ones():
    """The cell dicts (and so their file hashes) are those the shipped results stored."""
    for name in SHIPPED:
        doc = read_result(RESULTS / name / "result.json")
        config = DistillationConfig.from_dict(doc["config"])
        stored = [c["cell"] for c in doc["payload"]["cells"]]
        assert cells(config) == stored, name
    quick = cells(STUDY.preset("quick"))
    kinds = [c["kind"] for c in quick]
    assert kinds.count("student") == 4 and kinds.count("teacher") == kinds.count("random") == 1


def test_report_reproduces_the_shipped_tables():
    """summarise + render on the stored cells give the committed files byte for byte."""
    for name in SHIPPED:
        doc = read_result(RESULTS / name / "result.json")
        config = DistillationConfig.from_dict(doc["config"])
        stored = doc["payload"]["cells"]
        summary = summarise(config, [c["cell"] for c in stored], [c["result"] for c in stored])
        assert summary["rows"] == doc["payload"]["rows"], name
        for fname, text in render(config, summary).items():
            assert (RESULTS / name / fname).read_bytes() == text.encode(), (name, fname)
    full = read_result(RESULTS / "full" / "result.json")["payload"]
    row = next(r for r in full["rows"] if (r["game"], r["fraction"]) == ("breakout", 0.01))
    assert row["method"] == "regular" and row["test_kl"] == pytest.approx(0.3103223443031311)
    assert full["convergence"]["trainings"] == 72 and len(full["verdicts"]) == 24


def _fake(seed_values):
    """Cells and payloads of one game and fraction: {method: {seed: (kl, action_error)}}."""
    cs, ps = [], []
    for method, per_seed in seed_values.items():
        for seed, (kl, err) in per_seed.items():
            cs.append(
                {"game": "breakout", "kind": "student", "fraction": 0.1, "method": method}
                | {"seed": seed}
            )
            ps.append(
                {
                    "n_train": 10,
                    "test_kl": kl,
                    "test_action_error": err,
                    "test_jacobian_rel_error": 0.5,
                    "mean_return": 1.0,
                    "seconds_per_step": 0.01,
                    "curve": {"step": [5], "test_kl": [kl], "train_loss": [2 * kl]},
                }
            )
    for kind in ("teacher", "random"):
        cs.append({"game": "breakout", "kind": kind, "seed": 0})
        ps.append({"returns": [3.0], "mean_return": 3.0})
    return cs, ps


def test_verdicts_are_paired_by_seed_against_an_independent_reference():
    reg = {0: (0.30, 0.20), 1: (0.50, 0.10), 2: (0.20, 0.30)}
    sob = {2: (0.10, 0.25), 0: (0.11, 0.10), 1: (0.24, 0.05)}  # listed out of seed order
    config = DistillationConfig(games=["breakout"], fractions=[0.1], seeds=3)
    cs, ps = _fake({"sobolev": sob, "regular": reg})
    summary = summarise(config, cs, ps)
    kl, err = summary["verdicts"]
    assert (kl["metric"], err["metric"]) == ("test_kl", "test_action_error")
    logs = np.log([reg[s][0] / sob[s][0] for s in range(3)], dtype=np.float64)
    assert kl["ratio"] == pytest.approx(math.exp(logs.mean()), rel=1e-12)
    half = 4.302652729749462 * logs.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 dof)
    assert kl["ci95"] == pytest.approx([math.exp(logs.mean() - half), math.exp(logs.mean() + half)])
    assert kl["cell"] == {"game": "breakout", "fraction": 0.1} and kl["n_seeds"] == 3
    assert (kl["baseline"], kl["method"]) == ("regular", "sobolev")
    assert {v["verdict"] for v in summary["verdicts"]} <= {"win", "loss", "tie"}
    assert summary["convergence"] == {
        "trainings": 6,
        "converged": None,
        "criterion": "no early stopping yet (issue #17)",
    }
    assert [r["step"] for r in summary["curves"]] == [5] * 6
    # A lone seed cannot be tested: a tie whatever the ratio.
    cs1, ps1 = _fake({"regular": {0: (0.9, 0.5)}, "sobolev": {0: (0.1, 0.1)}})
    one = summarise(config, cs1, ps1)["verdicts"]
    assert [v["verdict"] for v in one] == ["tie", "tie"] and one[0]["ratio"] == pytest.approx(9)
    # Without both methods there is nothing to compare.
    reg_only = DistillationConfig(games=["breakout"], fractions=[0.1], methods=["regular"])
    cs2, ps2 = _fake({"regular": reg})
    assert summarise(reg_only, cs2, ps2)["verdicts"] == []


def test_table_format():
    assert _mean_sem(0.3103223443031311, 0.01707817399187322) == "0.31 ± 0.017"
    assert _mean_sem(4.5555, None) == "4.56" and _mean_sem(None, None) == "-"
    config = DistillationConfig(games=["breakout"], fractions=[0.1], seeds=3)
    reg = {s: (0.3 + 0.01 * s, 0.2) for s in range(3)}
    sob = {s: (0.1 + 0.01 * s, 0.1) for s in range(3)}
    tables = render(config, summarise(config, *_fake({"regular": reg, "sobolev": sob})))
    assert set(tables) == {"result.csv", "result.md", "curves.csv"}
    assert "| breakout | 0.1 (10) | 0.31 ± 0.0058 | **0.11 ± 0.0058** |" in tables["result.md"]
    assert "## Verdicts" in tables["result.md"]
    assert (
        tables["curves.csv"].splitlines()[0] == "game,fraction,method,seed,step,test_kl,train_loss"
    )


def test_run_cell_reproducible():
    cell = next(
        c
        for c in cells(STUDY.preset("quick"))
        if c["kind"] == "student" and c["method"] == "sobolev"
    )
    cell = {**cell, "steps": 20, "episodes": 1, "max_steps": 50}
    a, b = run_cell(cell), run_cell(cell)
    for key in ("test_kl", "test_action_error", "test_jacobian_rel_error", "mean_return", "curve"):
        assert a[key] == b[key], key


def test_quick_preset_end_to_end(tmp_path, capsys):
    assert main(["run", "distillation", "--out", str(tmp_path), "--no-progress"]) == 0
    folder = tmp_path / "distillation" / "quick"
    doc = read_result(folder / "result.json")
    payload = doc["payload"]
    rows = payload["rows"]
    assert {(r["fraction"], r["method"]) for r in rows} == {
        (f, m) for f in (0.05, 0.5) for m in ("regular", "sobolev")
    }
    for r in rows:
        assert r["test_kl"] > 0 and 0 <= r["test_action_error"] <= 1
        assert np.isfinite(r["teacher_return"]) and r["test_kl_sem"] is None
    verdicts = payload["verdicts"]
    assert [(v["cell"]["fraction"], v["metric"]) for v in verdicts] == [
        (f, m) for f in (0.05, 0.5) for m in ("test_kl", "test_action_error")
    ]
    assert all(v["verdict"] == "tie" and v["n_seeds"] == 1 for v in verdicts)  # one seed
    assert payload["convergence"]["trainings"] == 4
    assert payload["convergence"]["converged"] is None
    table = (folder / "result.md").read_text()
    assert "| breakout | 0.05 (50) |" in table and "## Verdicts" in table
    header = (folder / "curves.csv").read_text().splitlines()[0]
    assert header == "game,fraction,method,seed,step,test_kl,train_loss"
    assert payload["curves"][0]["step"] == 25
    # Resuming reuses every cell; report rebuilds the same tables without training.
    assert main(["run", "distillation", "--out", str(tmp_path), "--no-progress"]) == 0
    again = read_result(folder / "result.json")["payload"]
    assert again["timing"]["cells_computed"] == 0 and again["rows"] == rows
    before = (folder / "result.md").read_text()
    (folder / "result.md").unlink()
    assert main(["report", "distillation", "--out", str(tmp_path)]) == 0
    assert (folder / "result.md").read_text() == before
    capsys.readouterr()


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


def test_one_shipped_cell_is_recomputed_exactly():
    """A Sobolev student of the shipped full result (minibatches through the library's
    sampler, random projections) gives the stored numbers bit for bit."""
    stored = read_result(RESULTS / "full" / "result.json")["payload"]["cells"]
    entry = next(
        c
        for c in stored
        if c["cell"]["kind"] == "student"
        and (c["cell"]["game"], c["cell"]["fraction"], c["cell"]["seed"]) == ("breakout", 0.05, 1)
        and c["cell"]["method"] == "sobolev"
    )
    fresh = run_cell(entry["cell"])
    for key in ("n_train", "test_kl", "test_action_error", "test_jacobian_rel_error", "curve"):
        assert fresh[key] == entry["result"][key], key
    assert fresh["mean_return"] == entry["result"]["mean_return"]
