"""Both approx studies end to end on their tiny presets: schema, resume, failures."""

import json
import math

import pytest

from sobolev_lab.approx import sample_complexity, universal
from sobolev_lab.approx.driver import run_study
from sobolev_lab.cli import main
from sobolev_lab.results import read_result
from sobolev_lab.sweep import run_sweep


@pytest.fixture(scope="module")
def universal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("universal")
    first = run_study("universal", "tiny", out, backend="sequential", progress=False)
    return out, first


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    first = run_study("samples", "tiny", out, backend="sequential", progress=False)
    return out, first


def test_universal_schema(universal_run):
    out, payload = universal_run
    doc = read_result(out / "universal_tiny.json")
    assert doc["payload"]["cells"] == payload["cells"]
    assert payload["cells"]["failed"] == 0 and payload["cells"]["done"] == 6
    curves = payload["curves"]
    assert {(c["activation"], c["method"]) for c in curves} == {
        (a, m) for a in ("relu", "tanh") for m in ("regular", "sobolev", "sobolev_balanced")
    }
    for c in curves:
        assert c["widths"] == [4, 16] and c["seeds"] == [0]
        for m in ("l2", "w12", "w1inf"):
            assert len(c["errors"][m]) == 1 and len(c["errors"][m][0]) == 2
            assert all(math.isfinite(v) and v > 0 for v in c["errors_abs"][m][0])
    (ref,) = payload["reference"]
    assert ref["widths"] == [4, 16]
    # The interpolant's L2 error falls like width^-2: 16x smaller from 4 to 16 units.
    assert ref["errors"]["l2"][0] / ref["errors"]["l2"][1] == pytest.approx(14.3, rel=0.1)
    assert len(payload["summary"]) == 6 * 3
    header = (out / "universal_tiny.csv").read_text().splitlines()[0].split(",")
    assert {"function", "width", "method", "l2", "w12_rel", "w1inf"} <= set(header)


def test_universal_rerun_skips_every_cell(universal_run):
    out, first = universal_run
    again = run_study("universal", "tiny", out, backend="sequential", progress=False)
    assert again["cells"] == {"total": 6, "done": 0, "skipped": 6, "failed": 0}
    assert again["curves"] == first["curves"]


def test_samples_schema_and_rerun(samples_run):
    out, payload = samples_run
    assert payload["cells"]["failed"] == 0
    curves = {(c["dim"], c["method"]): c for c in payload["curves"]}
    methods = ("order0", "order1", "order1_unit", "order2")
    assert set(curves) == {(d, m) for d in (1, 2) for m in methods}
    assert curves[(1, "order0")]["n"] == [4, 16, 64]
    assert curves[(1, "order2")]["n"] == [4, 16]  # n_order2_max = 16
    assert curves[(2, "order1_unit")]["order"] == 1
    for c in payload["curves"]:
        assert set(c["errors"]) == {"l2", "w12"}
        assert all(v > 0 for row in c["errors"]["w12"] for v in row)
    rows = payload["samples_to_target"]
    assert {r["heuristic_ratio"] for r in rows if r["dim"] == 2} == {1, 3, 6}
    # Quartics in 2-D: 15 coefficients; 15 points from values, 5 (+1, the
    # Alexander-Hirschowitz exception (2, 4, 5)) from values and gradients.
    assert {r["polynomial_ratio"] for r in rows if r["dim"] == 2 and r["order"] == 1} == {2.5}
    json.dumps(payload)
    again = run_study("samples", "tiny", out, backend="sequential", progress=False)
    assert again["cells"]["skipped"] == payload["cells"]["total"]
    assert again["cells"]["done"] == 0


def test_constraint_counting():
    assert [sample_complexity.constraints_per_sample(d, 1) for d in (1, 2, 4, 8)] == [2, 3, 5, 9]
    assert sample_complexity.constraints_per_sample(8, 2) == 1 + 8 + 36


def test_nan_cell_is_recorded_as_failed(tmp_path):
    cfg = dict(universal.configs(universal.PRESETS["tiny"])[0], lr=1e30, steps=5)
    with pytest.raises(FloatingPointError):
        universal.cell(cfg)
    res = run_sweep(universal.cell, [cfg], tmp_path, backend="sequential", progress=False)
    assert res.failed == 1 and res.payloads == [None]


@pytest.mark.parametrize(
    ("study", "change", "match"),
    [
        ("universal", {"activations": ["sigmoid"]}, "activations"),
        ("universal", {"targets": [["beale", 1, 8, [4], []]]}, "beale"),
        ("samples", {"n": [8, 4]}, "increasing"),
        ("samples", {"methods": ["order3"]}, "methods"),
    ],
)
def test_bad_presets_fail_before_training(study, change, match, tmp_path):
    mod = universal if study == "universal" else sample_complexity
    with pytest.raises(ValueError, match=match):
        run_study(study, {**mod.PRESETS["tiny"], **change}, tmp_path, progress=False)
    assert not (tmp_path / f"{study}_custom").exists()


def test_cli_reuses_cells(universal_run, capsys):
    out, _ = universal_run
    argv = [
        "approx",
        "universal",
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--backend",
        "sequential",
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "interp." in text and "0 done, 6 skipped" in text


def test_theorems_figure_data(tmp_path):
    from sobolev_lab.approx.theorems import run
    from sobolev_lab.results import read_result

    pay = read_result(run(tmp_path))["payload"]
    t1 = pay["theorem1"]
    assert abs(t1["rate_w1inf"] + 1) < 0.15 and abs(t1["rate_w12"] + 1) < 0.15
    assert len(t1["x"]) == len(t1["h"]) == len(t1["dh"])
    assert all(r["loss"] < 1e-20 for r in pay["interpolation"]["losses"])
    t2 = pay["theorem2"]
    assert min(r["max_error"] for r in t2["inconsistent"]) >= t2["bound"] - 1e-9
    assert min(r["max_error"] for r in t2["consistent"]) < 1e-6
