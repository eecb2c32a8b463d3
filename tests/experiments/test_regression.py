"""The regression study end to end: schema, determinism, resumption, validation, CLI."""

import csv
import io
import json
import math

import numpy as np
import pytest

from sobolev_lab.experiments.regression import STUDY
from sobolev_lab.experiments.regression.aggregate import paired_stats
from sobolev_lab.experiments.regression.tables import CSV_COLUMNS, markdown
from sobolev_lab.results import read_result, write_result
from sobolev_lab.runner import report, run

#: A few seconds of training: 2 functions, 6 points, 15 (and 30) steps, 16-16 network.
TINY = [
    "functions=booth,ackley",
    "n_train=6",
    "seeds=2",
    "steps=15",
    "n_test=200",
    "hidden=16,16",
    "grid_functions=booth",
    "grid_size=5",
    "convergence_check=true",
]


def _run(out, overrides=TINY, **kw):
    return run(STUDY, "quick", overrides, out=out, progress=False, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return _run(out)


def test_quick_preset_through_the_cli_and_report_reproduces_its_tables(tmp_path):
    from sobolev_lab.cli import main

    assert main(["run", "regression", "--out", str(tmp_path), "--no-progress"]) == 0
    folder = tmp_path / "regression" / "quick"
    doc = read_result(folder / "result.json")
    res, cfg = doc["payload"], STUDY.preset("quick")
    assert doc["config"] == cfg.to_dict()
    assert doc["environment"]["packages"]["torch"]
    rows = res["rows"]
    assert len(rows) == len(cfg.functions) * len(cfg.n_train) * len(cfg.methods)
    for r in rows:
        assert r["n_seeds"] == cfg.seeds
        assert r["test_mse_values_mean"] > 0 and r["test_mse_gradients_mean"] > 0
        assert r["test_mse_values_sem"] >= 0
        if r["method"] == "regular":
            assert r["ratio_values"] == pytest.approx(1.0)
    for c in res["cells"]:
        for m in cfg.methods:
            assert len(c["result"]["methods"][m]["test_mse_values"]) == cfg.seeds
        # Exact gradient targets have zero error; estimated ones do not.
        assert max(c["result"]["methods"]["sobolev"]["target_gradient_mse_train"]) < 1e-20
        assert min(c["result"]["methods"]["sobolev_estimated"]["target_gradient_mse_train"]) > 0
    ackley = next(c["result"] for c in res["cells"] if c["cell"]["function"] == "ackley")
    assert ackley["kink"]["margin"] > 0
    assert "test_mse_gradients_away" in ackley["methods"]["sobolev"]
    grid = res["grids"]["styblinski_tang"]["20"]
    size = cfg.grid_size
    assert len(grid["true_values"]) == size and len(grid["true_gradients"][0][0]) == 2
    assert set(grid["methods"]) == set(cfg.methods)
    assert len(grid["methods"]["sobolev"]["gradients"][size - 1]) == size
    # The contract's entries: 2 functions x 1 size x 2 methods x 2 metrics verdicts.
    assert len(res["verdicts"]) == 8
    assert {v["baseline"] for v in res["verdicts"]} == {"regular"}
    assert res["convergence"]["trainings"] == 2 * 3 * 2
    assert res["convergence"]["converged"] is None
    assert "not checked" in res["convergence"]["criterion"]
    header = (folder / "result.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS
    md, table = (folder / "result.md").read_text(), (folder / "result.csv").read_bytes()
    assert "| 20 | sobolev |" in md and "styblinski_tang" in md
    assert "## Paired verdicts against regular training" in md
    # Tables regenerate from the stored cells alone, without retraining.
    (folder / "result.md").unlink()
    (folder / "result.csv").write_text("stale")
    before = (folder / "result.json").read_bytes()
    assert main(["report", "regression", "--out", str(tmp_path)]) == 0
    assert (folder / "result.md").read_text() == md
    assert (folder / "result.csv").read_bytes() == table
    assert (folder / "result.json").read_bytes() == before


def test_same_seed_gives_identical_numbers(tmp_path, tiny):
    again = _run(tmp_path)
    a, b = tiny.payload, again.payload
    assert a["rows"] == b["rows"]
    strip = lambda p: [  # noqa: E731
        {m: {k: v for k, v in r.items() if not k.startswith("seconds")} for m, r in c.items()}
        for c in (cell["result"]["methods"] for cell in p["cells"])
    ]
    assert strip(a) != [] and strip(a) == strip(b)
    assert a["grids"] == b["grids"]
    assert len(a["convergence_rows"]) == 2 * 3  # 2 functions x 3 methods, steps vs 2 steps


def test_interrupted_run_recomputes_only_missing_or_corrupt_cells(tmp_path):
    first = _run(tmp_path)
    table = (first.folder / "result.md").read_text()
    csv_text = (first.folder / "result.csv").read_text()
    cells = sorted((first.folder / "cells").glob("*.json"))
    assert len(cells) == first.payload["timing"]["cells_computed"] == 4
    cells[0].unlink()
    text = cells[1].read_text()
    cells[1].write_text(text[: len(text) // 2])  # truncated, as by a crash mid-write
    untouched = {p: p.stat().st_mtime_ns for p in cells[2:]}
    with pytest.warns(RuntimeWarning, match="recomputing"):
        again = _run(tmp_path)
    assert again.payload["timing"]["cells_computed"] == 2
    assert again.payload["timing"]["cells_reused"] == 2
    assert {p: p.stat().st_mtime_ns for p in cells[2:]} == untouched
    assert (first.folder / "result.md").read_text() == table
    assert (first.folder / "result.csv").read_text() == csv_text
    assert again.payload["rows"] == first.payload["rows"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("functions=nope", "unknown function 'nope'"),
        ("functions=beale:4", "beale:4"),
        ("n_train=20,0", "n_train"),
        ("steps=-5", "steps"),
        ("seeds=0", "seeds"),
        ("methods=regular,magic", "unknown method"),
        ("lr=nan", "lr"),
        ("n_train=1", "sobolev_estimated needs n_train >= 2"),
        ("stepz=5", "unknown field"),
        ("dtype=float16", "dtype"),
        ("activation=swish9", "activation"),
        ("n_neighbors=9", "n_neighbors"),
    ],
)
def test_invalid_config_fails_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        _run(tmp_path, [*TINY, change])
    assert not (tmp_path / "regression").exists()


def test_cli_set_overrides_the_preset_and_a_bad_value_exits_2(tmp_path, capsys):
    from sobolev_lab.cli import main

    args = ["run", "regression", "--out", str(tmp_path), "--no-progress"]
    sets = ["functions=booth", "n_train=8", "seeds=1", "steps=5", "methods=sobolev,regular"]
    assert main([*args, *(a for s in sets for a in ("--set", s))]) == 0
    (folder,) = (tmp_path / "regression").iterdir()
    assert folder.name.startswith("quick-custom-")  # never the quick preset's folder
    cfg = read_result(folder / "result.json")["config"]
    assert cfg["functions"] == ["booth"] and cfg["n_train"] == [8] and cfg["steps"] == 5
    assert cfg["methods"] == ["regular", "sobolev"]  # canonical order
    assert "booth" in capsys.readouterr().out
    assert main([*args, "--set", "steps=many"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main([*args, "--set", "seeds=0"]) == 2
    assert main([*args, "--preset", "nope"]) == 2
    assert "--preset" in capsys.readouterr().err


def test_paired_stats_against_a_hand_computation():
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


def test_convergence_table_has_paired_noise_columns(tiny):
    res = tiny.payload
    conv = res["convergence_rows"]
    assert len(conv) == 6
    by_key = {(c["cell"]["function"], c["cell"]["steps"]): c["result"] for c in res["cells"]}
    for entry in conv:
        a = by_key[(entry["function"], 15)]["methods"][entry["method"]]
        b = by_key[(entry["function"], 30)]["methods"][entry["method"]]
        ratio = np.log(np.array(b["test_mse_values"]) / np.array(a["test_mse_values"]))
        assert entry["log_ratio_mean_values"] == pytest.approx(ratio.mean())
        assert entry["within_2se"] == (entry["within_2se_values"] and entry["within_2se_gradients"])
    # The contract's convergence entry counts the trainings of converged cells.
    ok = [
        all(
            abs(e[f"rel_change_{s}"]) < 0.1 or e[f"within_2se_{s}"] for s in ("values", "gradients")
        )
        for e in conv
    ]
    assert res["convergence"] == {
        "trainings": 2 * 3 * 2,
        "converged": 2 * sum(ok),
        "criterion": res["convergence"]["criterion"],
    }
    assert "30 instead of 15 steps" in res["convergence"]["criterion"]
    md = (tiny.folder / "result.md").read_text()
    assert "values: log ratio" in md and "within 2 s.e." in md
    assert "Verdicts against regular training at 30 steps: of 4 " in md
    rows = list(csv.DictReader(io.StringIO((tiny.folder / "result.csv").read_text())))
    first = [r for r in rows if r["steps"] == "15"]
    assert all(r["log_ratio_sem_gradients_2x"] != "" for r in first)
    assert all(r["log_ratio_sem_gradients_2x"] == "" for r in rows if r not in first)


def test_verdicts_pair_each_method_with_regular_over_seeds(tiny):
    res = tiny.payload
    vs = res["verdicts"]
    # 2 functions x 1 size x 2 methods x 2 metrics, at the reported budget only.
    assert len(vs) == 8
    cells = {(c["cell"]["function"], c["cell"]["steps"]): c["result"] for c in res["cells"]}
    for v in vs:
        assert v["baseline"] == "regular" and v["method"] != "regular"
        assert v["metric"] in ("test_mse_values", "test_mse_gradients")
        methods = cells[(v["cell"]["function"], 15)]["methods"]
        reg = np.array(methods["regular"][v["metric"]])
        other = np.array(methods[v["method"]][v["metric"]])
        assert v["ratio"] == pytest.approx(float(np.exp(np.mean(np.log(reg / other)))))
        assert v["n_seeds"] == 2 and v["verdict"] in ("win", "loss", "tie")
        assert v["p_holm"] >= v["p_value"]


def test_report_rebuilds_a_tampered_summary_from_the_cells(tmp_path, tiny):
    folder = tmp_path / "regression" / "copy"
    doc = read_result(tiny.folder / "result.json")
    payload = json.loads(json.dumps(doc["payload"]))
    payload["rows"][0]["test_mse_values_mean"] *= 2
    payload["verdicts"] = []
    write_result(folder / "result.json", payload, doc["config"])
    out = report(STUDY, folder)
    assert out.payload["rows"] == doc["payload"]["rows"]
    assert out.payload["verdicts"] == doc["payload"]["verdicts"]
    assert (folder / "result.md").read_text() == (tiny.folder / "result.md").read_text()
    config = STUDY.config.from_dict(doc["config"])
    assert (
        markdown(config, read_result(folder / "result.json")["payload"])
        == (folder / "result.md").read_text()
    )


def test_many_functions_and_higher_dimensions_use_one_row_per_function(tmp_path):
    functions = "booth,ackley,sphere,matyas,easom,branin,levy,ackley:4,sphere:8"
    overrides = [*TINY, f"functions={functions}", "steps=3", "n_test=100"]
    overrides += ["convergence_check=false", "grid_functions=booth,sphere:8"]
    res = _run(tmp_path, overrides).payload
    md = (tmp_path / "regression").glob("*/result.md").__next__().read_text()
    assert "| function | d | n | values: regular |" in md
    assert "| sphere:8 | 8 | 6 |" in md and "| ackley:4 | 4 | 6 |" in md
    # Grids only for 2-D functions; kinks reported for Ackley in every dimension.
    assert set(res["grids"]) == {"booth"}
    kinks = {
        c["cell"]["dim"]: c["result"]["kink"]
        for c in res["cells"]
        if c["cell"]["function"] == "ackley"
    }
    assert set(kinks) == {None, 4} and all(k["margin"] > 0 for k in kinks.values())
    assert "| ackley:4 | 6 | sobolev | 0.00% |" in md  # the table of points away from kinks
    # Wins are counted per method, dimension and size.
    wins = md.split("## Wins and losses against regular training")[1]
    assert "| sobolev | 8 | 6 | 1 |" in wins and "| sobolev | 2 | 6 | 7 |" in wins
    comps = res["comparisons"]
    assert len(comps) == 9 * 2
    assert all(c["clear_values"] in (-1, 0, 1) for c in comps)
    assert res["convergence"]["converged"] is None
