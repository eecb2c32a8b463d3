"""The regression study end to end: schema, determinism, resumption, validation, CLI."""

import csv
import io
import json
import math

import numpy as np
import pytest

from sobolev_lab.experiments.regression import preset, run, validate
from sobolev_lab.experiments.regression.report import CSV_COLUMNS, markdown, method_comparisons
from sobolev_lab.results import read_result

TINY = {
    "name": "tiny",
    "functions": ["booth", "ackley"],
    "n_train": [6],
    "seeds": 2,
    "steps": 15,
    "n_test": 200,
    "hidden": [16, 16],
    "grid_functions": ["booth"],
    "grid_size": 5,
    "convergence_check": True,
}


def test_quick_preset_end_to_end_schema(tmp_path):
    res = run("quick", out_dir=tmp_path, backend="sequential", progress=False)
    cfg = preset("quick")
    doc = read_result(tmp_path / "quick.json")
    assert doc["payload"]["config"] == res["config"] == validate(cfg)
    assert doc["environment"]["packages"]["torch"]
    rows = res["rows"]
    n_fn, n_m = len(cfg["functions"]), len(cfg["methods"])
    assert len(rows) == n_fn * len(cfg["n_train"]) * n_m
    for r in rows:
        assert r["n_seeds"] == cfg["seeds"]
        assert r["test_mse_values_mean"] > 0 and r["test_mse_gradients_mean"] > 0
        assert r["test_mse_values_sem"] >= 0
        if r["method"] == "regular":
            assert r["ratio_values"] == pytest.approx(1.0)
    for c in res["cells"]:
        for m in cfg["methods"]:
            assert len(c["methods"][m]["test_mse_values"]) == cfg["seeds"]
        # Exact gradient targets have zero error; estimated ones do not.
        assert max(c["methods"]["sobolev"]["target_gradient_mse_train"]) < 1e-20
        assert min(c["methods"]["sobolev_estimated"]["target_gradient_mse_train"]) > 0
    ackley = next(c for c in res["cells"] if c["cell"]["function"] == "ackley")
    assert (
        ackley["kink"]["margin"] > 0 and "test_mse_gradients_away" in ackley["methods"]["sobolev"]
    )
    grid = res["grids"]["styblinski_tang"]["20"]
    size = cfg["grid_size"]
    assert len(grid["true_values"]) == size and len(grid["true_gradients"][0][0]) == 2
    assert set(grid["methods"]) == set(cfg["methods"])
    assert len(grid["methods"]["sobolev"]["gradients"][size - 1]) == size
    header = (tmp_path / "quick.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS
    md = (tmp_path / "quick.md").read_text()
    # Tables regenerate from the result file alone, without retraining.
    assert markdown(doc["payload"]) == md
    assert "| 20 | sobolev |" in md and "styblinski_tang" in md


def test_same_seed_gives_identical_numbers(tmp_path):
    a = run(TINY, out_dir=tmp_path / "a", backend="sequential", progress=False)
    b = run(TINY, out_dir=tmp_path / "b", backend="sequential", progress=False)
    assert a["rows"] == b["rows"]
    assert [c["methods"] for c in a["cells"]] != []
    strip = lambda p: [  # noqa: E731
        {m: {k: v for k, v in r.items() if not k.startswith("seconds")} for m, r in c.items()}
        for c in (cell["methods"] for cell in p["cells"])
    ]
    assert strip(a) == strip(b)
    assert a["grids"] == b["grids"]
    assert len(a["convergence"]) == 2 * 3  # 2 functions x 3 methods, steps vs 2 steps


def test_interrupted_run_recomputes_only_missing_or_corrupt_cells(tmp_path):
    first = run(TINY, out_dir=tmp_path, backend="loky", n_jobs=2, progress=False)
    table, csv = (tmp_path / "tiny.md").read_text(), (tmp_path / "tiny.csv").read_text()
    cells = sorted((tmp_path / "cells").glob("*.json"))
    assert len(cells) == first["timing"]["cells_computed"] == 4
    cells[0].unlink()
    text = cells[1].read_text()
    cells[1].write_text(text[: len(text) // 2])  # truncated, as by a crash mid-write
    untouched = {p: p.stat().st_mtime_ns for p in cells[2:]}
    with pytest.warns(RuntimeWarning, match="recomputing"):
        again = run(TINY, out_dir=tmp_path, backend="sequential", progress=False)
    assert again["timing"]["cells_computed"] == 2 and again["timing"]["cells_reused"] == 2
    assert {p: p.stat().st_mtime_ns for p in cells[2:]} == untouched
    assert (tmp_path / "tiny.md").read_text() == table
    assert (tmp_path / "tiny.csv").read_text() == csv
    assert again["rows"] == first["rows"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"functions": ["nope"]}, "unknown function 'nope'"),
        ({"functions": ["beale:4"]}, "beale:4"),
        ({"n_train": [20, 0]}, "n_train"),
        ({"steps": -5}, "steps"),
        ({"seeds": 0}, "seeds"),
        ({"methods": ["regular", "magic"]}, "unknown method"),
        ({"lr": float("nan")}, "lr"),
        ({"n_train": [1]}, "sobolev_estimated needs n_train >= 2"),
        ({"stepz": 5}, "unknown config key"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_invalid_config_fails_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        run({**TINY, **change}, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "cells").exists()


def test_cli_runs_and_overrides_the_preset(tmp_path, capsys):
    from sobolev_lab.cli import main

    status = main(
        [
            "regression",
            "--preset",
            "quick",
            "--functions",
            "booth",
            "--n-train",
            "8",
            "--seeds",
            "1",
            "--steps",
            "5",
            "--methods",
            "regular",
            "sobolev",
            "--backend",
            "sequential",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    doc = json.loads((tmp_path / "quick.json").read_text())
    cfg = doc["config"]
    assert cfg["functions"] == ["booth"] and cfg["n_train"] == [8] and cfg["steps"] == 5
    assert "booth" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["regression", "--preset", "nope"])


def test_paired_stats_against_a_hand_computation():
    from sobolev_lab.experiments.regression.report import paired_stats

    a, b = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]
    st = paired_stats(a, b)
    assert st["rel_change"] == pytest.approx((2.0 - 7 / 3) / (7 / 3))
    # Per-seed log ratios log 2, 0, -log 2: mean 0, s.d. log 2, s.e. log 2 / sqrt 3.
    assert st["log_ratio_mean"] == pytest.approx(0.0, abs=1e-15)
    assert st["log_ratio_sem"] == pytest.approx(math.log(2) / math.sqrt(3))
    assert st["within_2se"] is True
    # Differences 1, 0, -2: s.d. sqrt(7/3), over the mean 7/3.
    assert st["rel_change_paired_se"] == pytest.approx(math.sqrt(7 / 3) / math.sqrt(3) / (7 / 3))
    assert st["rel_sem"] == pytest.approx(np.std(a, ddof=1) / math.sqrt(3) / (7 / 3))
    # A consistent 10% improvement in every seed is outside the noise.
    drift = paired_stats([1.0, 2.0, 4.0], [0.9, 1.79, 3.62])
    assert drift["within_2se"] is False and drift["log_ratio_mean"] < 0
    with pytest.raises(ValueError, match="positive"):
        paired_stats([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="one shape"):
        paired_stats([1.0, 2.0], [1.0])


def test_convergence_table_has_paired_noise_columns(tmp_path):
    res = run(TINY, out_dir=tmp_path, backend="sequential", progress=False)
    conv = res["convergence"]
    assert len(conv) == 6
    by_key = {(c["cell"]["function"], c["cell"]["steps"]): c for c in res["cells"]}
    for entry in conv:
        a = by_key[(entry["function"], TINY["steps"])]["methods"][entry["method"]]
        b = by_key[(entry["function"], 2 * TINY["steps"])]["methods"][entry["method"]]
        ratio = np.log(np.array(b["test_mse_values"]) / np.array(a["test_mse_values"]))
        assert entry["log_ratio_mean_values"] == pytest.approx(ratio.mean())
        assert entry["within_2se"] == (entry["within_2se_values"] and entry["within_2se_gradients"])
    md = (tmp_path / "tiny.md").read_text()
    assert "values: log ratio" in md and "within 2 s.e." in md
    assert "Verdicts against regular training at 30 steps: of 4 " in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tiny.csv").read_text())))
    first = [r for r in rows if r["steps"] == str(TINY["steps"])]
    assert all(r["log_ratio_sem_gradients_2x"] != "" for r in first)
    assert all(r["log_ratio_sem_gradients_2x"] == "" for r in rows if r not in first)


def test_report_only_regenerates_tables_of_an_old_result_without_touching_it(tmp_path, capsys):
    from sobolev_lab.experiments.regression.driver import regenerate
    from sobolev_lab.experiments.regression.report import rebuild
    from sobolev_lab.cli import main
    from sobolev_lab.results import write_result

    res = run(TINY, out_dir=tmp_path, backend="sequential", progress=False)
    table = (tmp_path / "tiny.md").read_text()
    # A result written before the paired statistics existed: convergence without them.
    old = json.loads(json.dumps(res))
    plain = ("function", "n_train", "method", "rel_change_values", "rel_change_gradients")
    old["convergence"] = [{k: c[k] for k in (*plain, "converged")} for c in old["convergence"]]
    for r in old["rows"]:
        for k in [k for k in r if k.endswith("_2x") and not k.startswith("rel_change_")]:
            del r[k]
        for k in ("rel_change_paired_se_values_2x", "rel_change_paired_se_gradients_2x"):
            r.pop(k, None)
    write_result(tmp_path / "old.json", old, old["config"])
    assert "values: log ratio" not in markdown(old)
    before = (tmp_path / "old.json").read_bytes()
    rebuilt = regenerate(tmp_path / "old.json")
    assert (tmp_path / "old.json").read_bytes() == before
    assert (tmp_path / "old.md").read_text() == table
    assert rebuilt["convergence"] == json.loads(json.dumps(res["convergence"]))
    # Through the CLI (no training: the cells folder is not even consulted).
    (tmp_path / "old.md").unlink()
    assert main(["regression", "--report-only", "--name", "old", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "old.md").read_text() == table
    assert "no training" in capsys.readouterr().out
    assert main(["regression", "--report-only", "--name", "nope", "--out", str(tmp_path)]) == 2
    assert "no regression result" in capsys.readouterr().err
    # A stored summary that disagrees with the per-seed numbers is refused.
    old["rows"][0]["test_mse_values_mean"] *= 2
    with pytest.raises(ValueError, match="test_mse_values_mean"):
        rebuild(old)


def test_many_functions_and_higher_dimensions_use_one_row_per_function(tmp_path):
    functions = [
        "booth", "ackley", "sphere", "matyas", "easom", "branin", "levy", "ackley:4", "sphere:8",
    ]  # fmt: skip
    cfg = {**TINY, "name": "wide", "functions": functions, "steps": 3, "n_test": 100}
    cfg.update(convergence_check=False, grid_functions=["booth", "sphere:8"])
    res = run(cfg, out_dir=tmp_path, backend="sequential", progress=False)
    md = (tmp_path / "wide.md").read_text()
    assert "| function | d | n | values: regular |" in md
    assert "| sphere:8 | 8 | 6 |" in md and "| ackley:4 | 4 | 6 |" in md
    # Grids only for 2-D functions; kinks reported for Ackley in every dimension.
    assert set(res["grids"]) == {"booth"}
    kinks = {c["cell"]["dim"]: c["kink"] for c in res["cells"] if c["cell"]["function"] == "ackley"}
    assert set(kinks) == {None, 4} and all(k["margin"] > 0 for k in kinks.values())
    assert "| ackley:4 | 6 | sobolev | 0.00% |" in md  # the table of points away from kinks
    # Wins are counted per method, dimension and size.
    wins = md.split("## Wins and losses against regular training")[1]
    assert "| sobolev | 8 | 6 | 1 |" in wins and "| sobolev | 2 | 6 | 7 |" in wins
    comps = method_comparisons(res)
    assert len(comps) == len(functions) * 2
    assert all(c["clear_values"] in (-1, 0, 1) for c in comps)
