"""The runner: layout, resume, failure policy, protection of finished results, reports."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sobolev_lab import registry
from sobolev_lab.results import read_result, write_result
from sobolev_lab.runner import CellFailures, ResultConflict, report, run

sys.path.insert(0, str(Path(__file__).parent))
from toy_study import STUDY

TESTS = Path(__file__).parent


def _cells(folder: Path) -> list[Path]:
    return sorted((folder / "cells").glob("*.json"))


def test_quick_run_writes_the_layout_with_verdicts_provenance_and_config(tmp_path):
    out = run(STUDY, "quick", out=tmp_path, progress=False)
    folder = tmp_path / "toy" / "quick"
    assert out.folder == folder
    assert {p.name for p in folder.iterdir()} == {"cells", "result.json", "result.csv", "result.md"}
    assert len(_cells(folder)) == 6
    doc = read_result(folder / "result.json")
    assert doc["config"]["seeds"] == 3 and doc["config"]["sizes"] == [10, 20]
    assert doc["environment"]["packages"]["torch"]
    pay = doc["payload"]
    assert pay["study"] == "toy" and pay["preset"] == "quick" and pay["name"] == "quick"
    assert len(pay["cells"]) == 6 and pay["timing"]["cells_computed"] == 6
    for v in pay["verdicts"]:
        assert v["verdict"] == "win" and v["n_seeds"] == 3
        assert v["ratio"] == pytest.approx(2.0, rel=0.05)
        lo, hi = v["ci95"]
        assert lo < v["ratio"] < hi
    assert pay["convergence"]["trainings"] == 6


def test_rerun_reuses_every_cell_and_custom_runs_get_their_own_folder(tmp_path):
    run(STUDY, "quick", out=tmp_path, progress=False)
    again = run(STUDY, "quick", out=tmp_path, progress=False)
    assert again.payload["timing"]["cells_reused"] == 6
    assert again.payload["timing"]["cells_computed"] == 0
    # Reused cells keep their earlier seconds in the total but not in this call's own.
    assert again.payload["timing"]["cell_seconds_computed"] == 0
    assert again.payload["timing"]["cell_seconds_total"] > 0
    before = (tmp_path / "toy" / "quick" / "result.md").read_text()
    custom = run(STUDY, "quick", ["factor=4"], out=tmp_path, progress=False)
    assert custom.folder.name.startswith("quick-custom-")
    assert (tmp_path / "toy" / "quick" / "result.md").read_text() == before
    assert custom.payload["verdicts"][0]["ratio"] == pytest.approx(4.0, rel=0.05)


def test_a_run_never_writes_into_another_presets_folder_or_over_another_config(tmp_path):
    with pytest.raises(ValueError, match="folder of preset 'full'"):
        run(STUDY, "quick", name="full", out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="unmodified preset"):
        run(STUDY, "quick", ["factor=3"], name="quick", out=tmp_path, progress=False)
    run(STUDY, "quick", ["factor=3"], name="mine", out=tmp_path, progress=False)
    with pytest.raises(ResultConflict, match="another config"):
        run(STUDY, "quick", ["factor=5"], name="mine", out=tmp_path, progress=False)
    replaced = run(
        STUDY, "quick", ["factor=5"], name="mine", out=tmp_path, progress=False, overwrite=True
    )
    assert replaced.payload["verdicts"][0]["ratio"] == pytest.approx(5.0, rel=0.05)


def test_failed_cells_are_recorded_the_others_finish_and_no_result_is_written(tmp_path):
    with pytest.raises(CellFailures, match="3 of 6 cells failed"):
        run(STUDY, "quick", ["fail_size=10"], name="broken", out=tmp_path, progress=False)
    folder = tmp_path / "toy" / "broken"
    failures = json.loads((folder / "failed.json").read_text())
    assert len(failures) == 3 and all("fails on purpose" in f["error"] for f in failures)
    assert all(f["cell"]["size"] == 10 for f in failures)
    assert not (folder / "result.json").exists()
    done = [read_result(p)["payload"] for p in _cells(folder)]
    assert sum(d["status"] == "done" for d in done) == 3


def test_report_reproduces_the_tables_byte_for_byte_without_training(tmp_path):
    out = run(STUDY, "quick", out=tmp_path, progress=False)
    tables = {p.name: p.read_bytes() for p in out.files[1:]}
    for p in out.files[1:]:
        p.unlink()
    for cell in _cells(out.folder):
        cell.unlink()  # the report needs only result.json
    rebuilt = report(STUDY, out.folder)
    assert [p.name for p in rebuilt.files] == list(tables)
    assert {p.name: p.read_bytes() for p in rebuilt.files} == tables
    with pytest.raises(FileNotFoundError, match="no result"):
        report(STUDY, tmp_path / "toy" / "absent")


def test_report_keeps_a_result_whose_summary_differs_only_by_rounding(tmp_path):
    out = run(STUDY, "quick", out=tmp_path, progress=False)
    path = out.folder / "result.json"
    doc = read_result(path)
    rows = doc["payload"]["rows"]

    def store(ratio):
        payload = {**doc["payload"], "rows": [{**rows[0], "ratio": ratio}, *rows[1:]]}
        write_result(path, payload, doc["config"], doc["environment"])
        return path.read_bytes()

    # Another numpy may sum in another order: the last bit is not a new result.
    nudged = rows[0]["ratio"] * (1 + 1e-15)
    assert nudged != rows[0]["ratio"]
    before = store(nudged)
    report(STUDY, out.folder)
    assert path.read_bytes() == before
    # A real difference is rewritten, and the cells' provenance is kept.
    store(rows[0]["ratio"] * 1.1)
    report(STUDY, out.folder)
    rebuilt = read_result(path)
    assert rebuilt["payload"]["rows"] == rows
    env = rebuilt["environment"]
    assert env["created"] == doc["environment"]["created"]
    assert env["git_commit"] == doc["environment"]["git_commit"]
    assert "created" in env["summary_rebuilt"]
    # `sobolev report` over several folders passes one environment taken before any
    # rewrite, so a later folder's record does not blame the earlier rewrites.
    store(rows[0]["ratio"] * 1.1)
    taken = {"git_commit": "0" * 40, "created": "2026-01-01T00:00:00+00:00"}
    report(STUDY, out.folder, rebuilt_env=taken)
    assert read_result(path)["environment"]["summary_rebuilt"] == taken


def test_loky_workers_give_the_sequential_numbers(tmp_path):
    seq = run(STUDY, "quick", out=tmp_path / "a", progress=False)
    par = run(STUDY, "quick", out=tmp_path / "b", jobs=2, progress=False)
    strip = lambda p: [{k: v for k, v in c["result"].items() if k != "pid"} for c in p["cells"]]  # noqa: E731
    assert strip(seq.payload) == strip(par.payload)
    assert seq.payload["verdicts"] == par.payload["verdicts"]


def test_a_sweep_killed_with_sigkill_resumes_to_the_clean_runs_result(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); from toy_study import STUDY; "
        "from sobolev_lab.runner import run; "
        f"run(STUDY, 'quick', ['sleep=0.4'], name='k', out={str(tmp_path / 'killed')!r}, "
        "progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    folder = tmp_path / "killed" / "toy" / "k"
    deadline = time.time() + 60
    while not _cells(folder) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(_cells(folder)) < 6, "the kill should land mid-sweep"
    resumed = run(STUDY, "quick", ["sleep=0.4"], name="k", out=tmp_path / "killed", progress=False)
    assert resumed.payload["timing"]["cells_reused"] >= 1
    t = resumed.payload["timing"]
    # About 0.4 s per computed cell (the sleep), none for the reused ones.
    assert 0.4 * t["cells_computed"] <= t["cell_seconds_computed"] < t["cell_seconds_total"]
    clean = run(STUDY, "quick", ["sleep=0.0"], out=tmp_path / "clean", progress=False)
    strip = lambda p: [{k: v for k, v in c["result"].items() if k != "pid"} for c in p["cells"]]  # noqa: E731
    assert strip(resumed.payload) == strip(clean.payload)
    assert resumed.payload["verdicts"] == clean.payload["verdicts"]


def test_command_line_run_report_list_and_errors(tmp_path, monkeypatch, capsys):
    from sobolev_lab.cli import main

    monkeypatch.setitem(registry.STUDIES, "toy", "toy_study:STUDY")
    args = ["--out", str(tmp_path), "--no-progress"]
    assert main(["run", "toy", *args]) == 0
    assert "method vs baseline" in capsys.readouterr().out
    assert main(["run", "toy", "--set", "seeds=many", *args]) == 2
    assert "--set seeds: expected int, got 'many'" in capsys.readouterr().err
    assert main(["run", "toy", "--set", "nope=1", *args]) == 2
    assert "unknown field" in capsys.readouterr().err
    assert main(["run", "toy", "--preset", "paper", *args]) == 2
    assert "--preset must be one of quick, full, large" in capsys.readouterr().err
    assert main(["run", "toy", "--set", "fail_size=20", "--name", "f", *args]) == 1
    part = ["--set", "sizes=10", "--name", "part", *args]
    assert main(["run", "toy", *part]) == 0
    whole = ["--name", "whole", "--reuse", str(tmp_path / "toy" / "part"), *args]
    assert main(["run", "toy", *whole]) == 0
    assert "cells 3 computed, 3 reused" in capsys.readouterr().out
    assert main(["run", "toy", "--name", "w2", "--reuse", str(tmp_path / "nope"), *args]) == 2
    assert "--reuse" in capsys.readouterr().err
    assert main(["report", "toy", "--out", str(tmp_path)]) == 0
    assert "quick: wrote result.csv, result.md" in capsys.readouterr().out
    assert main(["list", "toy"]) == 0
    text = capsys.readouterr().out
    assert "fail_size (int | none, default None)" in text and "paired seeds" in text
    assert main(["regression", "--preset", "paper"]) == 2
    assert "sobolev run regression" in capsys.readouterr().err


def test_a_result_of_an_older_config_schema_is_left_as_shipped_by_report(
    tmp_path, monkeypatch, capsys
):
    from sobolev_lab.cli import main
    from sobolev_lab.results import write_result
    from sobolev_lab.runner import LegacyResult

    out = run(STUDY, "quick", out=tmp_path, progress=False)
    legacy = tmp_path / "toy" / "old"
    doc = read_result(out.folder / "result.json")
    write_result(legacy / "result.json", doc["payload"], {**doc["config"], "retired": 1})
    with pytest.raises(LegacyResult, match="earlier version of the study"):
        report(STUDY, legacy)
    monkeypatch.setitem(registry.STUDIES, "toy", "toy_study:STUDY")
    assert main(["report", "toy", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "old: left as shipped" in text and "quick: wrote result.csv" in text
    assert main(["report", "toy", "--name", "old", "--out", str(tmp_path)]) == 2


def test_verdicts_pair_mappings_on_the_seeds_both_hold():
    from sobolev_lab.stats import paired_verdicts

    base = {"claim": "c", "cell": "x", "metric": "e", "baseline": "b", "method": "m"}
    by_seed = paired_verdicts(
        [
            {
                **base,
                "baseline_errors": {0: 2.0, 1: 4.2, 2: 8.0, 7: 1.0},
                "method_errors": {2: 4.1, 0: 1.0, 1: 2.0, 5: 9.0},
            }
        ]
    )
    aligned = paired_verdicts(
        [{**base, "baseline_errors": [2.0, 4.2, 8.0], "method_errors": [1.0, 2.0, 4.1]}]
    )
    assert by_seed == aligned and by_seed[0]["n_seeds"] == 3
    with pytest.raises(ValueError, match="both be sequences or mappings"):
        paired_verdicts([{**base, "baseline_errors": {0: 1.0}, "method_errors": [1.0]}])


def test_reuse_assembles_a_preset_from_parts_without_computing(tmp_path):
    whole = run(STUDY, "quick", out=tmp_path / "direct", progress=False)
    parts = tmp_path / "parts"
    for size in (10, 20):
        run(STUDY, "quick", [f"sizes={size}"], name=f"part{size}", out=parts, progress=False)
    folders = [parts / "toy" / "part10", parts / "toy" / "part20"]
    out = run(STUDY, "quick", out=parts, progress=False, reuse=folders)
    timing = out.payload["timing"]
    assert (timing["cells_computed"], timing["cells_reused"]) == (0, 6)
    assert (out.folder / "result.md").read_text() == (whole.folder / "result.md").read_text()
    cell = read_result(_cells(out.folder)[0])["payload"]
    assert cell["reused_from"].endswith("result.json") and cell["seconds"] is None
    assert cell["source_environment"]["packages"]["torch"]


def test_reuse_refuses_missing_or_foreign_sources_and_keeps_existing_cells(tmp_path):
    with pytest.raises(ValueError, match="--reuse .*nope: expected a result folder"):
        run(STUDY, "quick", out=tmp_path, progress=False, reuse=[tmp_path / "nope"])
    from sobolev_lab.results import write_result

    write_result(tmp_path / "other" / "result.json", {"study": "regression", "cells": []}, {})
    with pytest.raises(ValueError, match="study 'regression', not 'toy'"):
        run(STUDY, "quick", out=tmp_path, progress=False, reuse=[tmp_path / "other"])
    part = run(STUDY, "quick", ["sizes=10"], name="part", out=tmp_path, progress=False)
    first = run(STUDY, "quick", out=tmp_path, progress=False)
    before = {p.name: p.read_text() for p in _cells(first.folder)}
    again = run(STUDY, "quick", out=tmp_path, progress=False, reuse=[part.folder])
    assert {p.name: p.read_text() for p in _cells(again.folder)} == before
