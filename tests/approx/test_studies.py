"""Both approx studies end to end on their quick presets: schema, verdicts, resume, failures."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sobolev_lab import runner
from sobolev_lab.approx import sample_complexity, theorems, universal
from sobolev_lab.cli import main
from sobolev_lab.protocol import CRITERION
from sobolev_lab.results import read_result
from sobolev_lab.sweep import run_sweep


@pytest.fixture(scope="module")
def universal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("universal")
    return out, runner.run(universal.STUDY, "quick", out=out, progress=False)


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    assert main(["run", "samples", "--out", str(out), "--no-progress"]) == 0
    return out, read_result(out / "samples" / "quick" / "result.json")["payload"]


def test_universal_schema(universal_run):
    out, outcome = universal_run
    payload = read_result(out / "universal" / "quick" / "result.json")["payload"]
    assert payload["timing"]["cells_computed"] == 6 and len(payload["cells"]) == 6
    curves = payload["curves"]
    trained = ("regular", "sobolev", "sobolev_balanced")
    assert {(c["activation"], c["method"]) for c in curves} == {
        *((a, m) for a in ("relu", "tanh") for m in trained),
        ("relu", "warm_start"),  # 1-D ReLU also trains from the construction
    }
    for c in curves:
        assert c["widths"] == [4, 16] and c["seeds"] == [0, 1]
        for m in ("l2", "w12", "w1inf"):
            assert np.shape(c["errors"][m]) == (2, 2)
            assert all(math.isfinite(v) and v > 0 for row in c["errors_abs"][m] for v in row)
        assert np.all(np.isfinite(c["train_loss"])) and np.all(np.asarray(c["grad_norm"]) >= 0)
    (ref,) = payload["reference"]
    assert ref["widths"] == [4, 16]
    # The interpolant's L2 error falls like width^-2: 16x smaller from 4 to 16 units.
    assert ref["errors"]["l2"][0] / ref["errors"]["l2"][1] == pytest.approx(14.3, rel=0.1)
    assert len(payload["summary"]) == 7 * 3
    header = (outcome.folder / "result.csv").read_text().splitlines()[0].split(",")
    assert {"width", "method", "l2", "w12_rel", "train_loss", "grad_norm", "converged"} <= set(
        header
    )
    # relu: 3 methods against regular, tanh: 2; 2 widths, 3 metrics.
    assert len(payload["verdicts"]) == (3 + 2) * 2 * 3
    conv = payload["convergence"]
    # relu: 2 seeds x (3 methods + warm start), tanh: 2 x 3; two widths.
    assert conv["trainings"] == 28 and 0 <= conv["converged"] <= 28
    assert conv["criterion"].startswith(CRITERION)
    flags = [r["converged"] for r in payload["rows"] if r["kind"] == "train"]
    assert conv["converged"] == sum(flags)


def test_warm_start_starts_at_the_construction():
    from sobolev_lab.approx.common import ScaledNetwork, scaling_of, target_function
    from sobolev_lab.approx.universal_train import construction_members
    from sobolev_lab.theory.constructions.relu_universal import relu_interpolant_1d

    f = target_function("styblinski_tang", 1)
    ref = relu_interpolant_1d(lambda t: f.value(t[:, None]), -5.0, 5.0, 17)
    (net,) = construction_members("styblinski_tang", 16, 1).to_models()
    x = torch.linspace(-5, 5, 401, dtype=torch.float64)[:, None]
    got = ScaledNetwork(net, scaling_of("styblinski_tang", 1))(x)
    assert torch.allclose(got, ref(x)[:, 0], rtol=0, atol=1e-10)


def test_universal_rerun_skips_every_cell(universal_run):
    out, first = universal_run
    again = runner.run(universal.STUDY, "quick", out=out, progress=False)
    assert again.payload["timing"]["cells_reused"] == 6
    assert again.payload["timing"]["cells_computed"] == 0
    assert again.payload["curves"] == first.payload["curves"]


def test_samples_schema(samples_run):
    _, payload = samples_run
    curves = {(c["function"], c["dim"], c["method"]): c for c in payload["curves"]}
    methods = ("order0", "order1", "order1_unit")
    groups = (("styblinski_tang", 1), ("styblinski_tang", 2), ("rosenbrock", 2))
    assert set(curves) == {(f, d, m) for f, d in groups for m in methods}
    assert curves[("rosenbrock", 2, "order0")]["n"] == [4, 16, 64]
    assert curves[("styblinski_tang", 2, "order1_unit")]["order"] == 1
    for c in payload["curves"]:
        assert set(c["errors"]) == {"l2", "w12"}
        assert all(v > 0 for row in c["errors"]["w12"] for v in row)
    rows = payload["samples_to_target"]
    assert {r["heuristic_ratio"] for r in rows if r["dim"] == 2} == {1, 3}
    # Quartics in 2-D: 15 coefficients; 15 points from values, 5 (+1, the
    # Alexander-Hirschowitz exception (2, 4, 5)) from values and gradients.
    assert {r["polynomial_ratio"] for r in rows if r["dim"] == 2 and r["order"] == 1} == {2.5}
    for r in rows:
        if r["ratio_seeds"] and r["ratio_seeds"]["ci"]:
            lo, hi = r["ratio_seeds"]["ci"]
            assert lo <= r["ratio_seeds"]["ratio"] <= hi
    json.dumps(payload)
    conv = payload["convergence"]
    assert conv["trainings"] == len(payload["rows"]) == 9 * 6
    assert conv["converged"] == sum(r["converged"] for r in payload["rows"])
    assert all(math.isfinite(r["train_loss"]) for r in payload["rows"])


def test_samples_verdicts_match_the_per_seed_errors(samples_run):
    _, payload = samples_run
    # Per (function, dim): order1 and order1_unit at 3 sizes in 2 metrics.
    assert len(payload["verdicts"]) == 3 * 2 * 3 * 2
    rows = payload["rows"]
    for v in payload["verdicts"]:
        c = v["cell"]

        def errors(method, c=c, v=v):
            key = (c["function"], c["dim"], c["n"])
            sel = [r for r in rows if (r["function"], r["dim"], r["n"]) == key]
            sel = sorted((r for r in sel if r["method"] == method), key=lambda r: r["seed"])
            return np.array([r[v["metric"] + "_rel"] for r in sel])

        base, meth = errors("order0"), errors(v["method"])
        assert v["n_seeds"] == 2 and v["baseline"] == "order0"
        assert v["ratio"] == pytest.approx(math.exp(np.mean(np.log(base / meth))), rel=1e-12)
        lo, hi = v["ci95"]
        assert lo <= v["ratio"] <= hi


def test_report_rebuilds_the_tables(samples_run):
    out, _ = samples_run
    folder = out / "samples" / "quick"
    before = {f: (folder / f).read_text() for f in ("result.csv", "result.md")}
    (folder / "result.csv").unlink()
    runner.report(sample_complexity.STUDY, folder)
    assert {f: (folder / f).read_text() for f in before} == before


def _cell_numbers(payload):
    return [
        (c["cell"], {k: v for k, v in c["result"].items() if k != "train_seconds"})
        for c in payload["cells"]
    ]


def test_sigkill_then_resume_gives_the_clean_result(samples_run, tmp_path):
    _, clean = samples_run
    argv = ["run", "samples", "--preset", "quick", "--jobs", "1", "--out", str(tmp_path)]
    argv.append("--no-progress")
    code = f"import sys; from sobolev_lab.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code])
    cells = tmp_path / "samples" / "quick" / "cells"
    try:
        while proc.poll() is None and not any(cells.glob("*.json")):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert any(cells.glob("*.json")), "the killed run wrote no cell"
    assert not (cells.parent / "result.json").exists(), "the run finished before the kill"
    assert main(argv) == 0
    resumed = read_result(tmp_path / "samples" / "quick" / "result.json")["payload"]
    assert _cell_numbers(resumed) == _cell_numbers(clean)
    assert resumed["curves"] == clean["curves"]
    assert resumed["verdicts"] == clean["verdicts"]


def test_constraint_counting():
    assert [sample_complexity.constraints_per_sample(d, 1) for d in (1, 2, 4, 8)] == [2, 3, 5, 9]
    assert sample_complexity.constraints_per_sample(8, 2) == 1 + 8 + 36


def test_failing_cell_is_recorded_as_failed(tmp_path):
    cell = universal.cells(universal.STUDY.preset("quick"))[0]
    cfg = dict(cell, activation="no_such_activation")
    with pytest.raises(ValueError):
        universal.run_cell(cfg)
    res = run_sweep(universal.run_cell, [cfg], tmp_path, backend="sequential", progress=False)
    assert res.failed == 1 and res.payloads == [None]


@pytest.mark.parametrize(
    ("study", "change", "match"),
    [
        (universal.STUDY, "activations=sigmoid", "activations"),
        (universal.STUDY, 'targets=[["beale", 1, [4]]]', "beale"),
        (universal.STUDY, 'targets=[["styblinski_tang", 4, [4]]]', "dim"),
        (universal.STUDY, "lbfgs_iters=0", "lbfgs_iters"),
        (universal.STUDY, "methods=warm_start", "methods"),
        (sample_complexity.STUDY, "seeds=", "seeds"),
        (sample_complexity.STUDY, "hidden=32,0", "hidden"),
        (sample_complexity.STUDY, "n=8,4", "increasing"),
        (sample_complexity.STUDY, "methods=order2", "methods"),
        (sample_complexity.STUDY, "targets_l2=-0.1", "targets_l2"),
    ],
)
def test_bad_options_fail_before_training(study, change, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        runner.run(study, "quick", [change], out=tmp_path, progress=False)
    assert not (tmp_path / study.name).exists()


def test_shipped_partial_runs_hold_exactly_their_cells():
    from sobolev_lab.results import config_hash

    results = Path(__file__).resolve().parents[2] / "results"
    for study in (universal.STUDY, sample_complexity.STUDY):
        folder = results / study.name / "full-partial"
        shipped = {p.stem for p in (folder / "cells").glob("*.json")}
        if not shipped:
            pytest.skip("shipped cell files are not in this checkout")
        payload = read_result(folder / "result.json")["payload"]
        assert {config_hash(c["cell"]) for c in payload["cells"]} == shipped


def test_theorems_figure_data(tmp_path):
    outcome = runner.run(theorems.STUDY, "full", out=tmp_path, progress=False)
    pay = read_result(outcome.folder / "result.json")["payload"]
    t1 = pay["theorem1"]
    assert abs(t1["rate_w1inf"] + 1) < 0.15 and abs(t1["rate_w12"] + 1) < 0.15
    assert len(t1["x"]) == len(t1["h"]) == len(t1["dh"])
    assert all(r["loss"] < 1e-20 for r in pay["interpolation"]["losses"])
    t2 = pay["theorem2"]
    assert min(r["max_error"] for r in t2["inconsistent"]) >= t2["bound"] - 1e-9
    assert min(r["max_error"] for r in t2["consistent"]) < 1e-6
    assert all(c["holds"] for c in pay["checks"])
