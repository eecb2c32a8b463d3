"""Synthetic-gradient study through the runner: selection, verdicts, layout, shipped results."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sobolev_lab.cli import main
from sobolev_lab.experiments.synthetic_gradients import STUDY, SGConfig
from sobolev_lab.experiments.synthetic_gradients.config import cells
from sobolev_lab.experiments.synthetic_gradients.study import CLAIM_RQ3B, summarise
from sobolev_lab.results import read_result
from sobolev_lab.stats import VERDICT_KEYS

SHIPPED = Path(__file__).resolve().parents[2] / "results" / "synthetic_gradients"
#: The shipped run of the full preset (fewer seeds than the preset: see the README).
SHIPPED_RUN = "full-8seeds"


def _payload(val, test, status="ok", steps=(10, 20)):
    ok = status == "ok"
    n = len(steps)
    return {"status": status, "val_acc": val if ok else None, "test_acc": test if ok else None,
            "seconds_per_step": 0.1,
            "curves": {"step": list(steps), "val_acc": [val] * n, "test_acc": [test] * n,
                       "cosine": [[0.5]] * n, "r2": [[0.1]] * n, "common": [[0.2]] * n,
                       "dead": [[0.0]] * n}}  # fmt: skip


def test_selection_uses_validation_only_and_verdicts_pair_seeds():
    config = SGConfig(tasks=("digits/mlp/1",), methods=("gradient_critic", "sobolev_critic"),
                      seeds=4, steps=20, critic_activations=("softplus",),
                      lr_grid=(1e-3, 3e-3), module_lr_grid=(3e-4, 1e-3),
                      sobolev_grid=("norm:1", "norm:0.1"))  # fmt: skip
    # Trial 1 of each method has the better *test* accuracy but the worse validation
    # accuracy: a selection that peeked at the test split would choose it.
    val = {0: 0.9, 1: 0.5}
    test = {
        ("gradient_critic", 0): [0.90, 0.80, 0.85, 0.70],
        ("sobolev_critic", 0): [0.95, 0.90, 0.93, 0.99],
        ("gradient_critic", 1): [0.99] * 4,
        ("sobolev_critic", 1): [0.99] * 4,
    }
    cs = cells(config)
    payloads = [
        _payload(
            val[c["trial"]],
            test[c["method"], c["trial"]][c["seed"]],
            "diverged" if c["seed"] == 3 and c["trial"] == 0 else "ok",
        )
        for c in cs
    ]
    summary = summarise(config, cs, payloads)
    # The diverged seed makes trial 0 rank last by the protocol's rule (inf mean).
    assert {r["chosen_trial"] for r in summary["summary"]} == {1}
    sel = {s["variant"]: s for s in summary["selection"]}
    assert sel["sobolev_critic[softplus]"]["val_error_per_trial"] == [None, pytest.approx(50.0)]
    # With every seed of trial 0 finished, trial 0 is chosen on validation.
    payloads = [_payload(val[c["trial"]], test[c["method"], c["trial"]][c["seed"]]) for c in cs]
    summary = summarise(config, cs, payloads)
    rows = {r["method"]: r for r in summary["summary"]}
    assert (
        rows["sobolev_critic"]["chosen_trial"] == 0 and rows["gradient_critic"]["chosen_trial"] == 0
    )
    assert rows["sobolev_critic"]["normalise"] is True and rows["sobolev_critic"]["w_value"] == 1.0
    v = next(v for v in summary["verdicts"] if v["claim"] == CLAIM_RQ3B)
    assert set(VERDICT_KEYS) <= v.keys()
    assert (v["baseline"], v["method"]) == ("gradient_critic[softplus]", "sobolev_critic[softplus]")
    assert v["n_seeds"] == 4
    # Independent reference: log ratios of test errors [%] and a t interval, in float64.
    err_c = 100 * (1 - np.array(test["gradient_critic", 0], dtype=np.float64))
    err_s = 100 * (1 - np.array(test["sobolev_critic", 0], dtype=np.float64))
    r = np.log(err_c / err_s)
    half = stats.t.ppf(0.975, 3) * r.std(ddof=1) / math.sqrt(4)
    assert v["ratio"] == pytest.approx(math.exp(r.mean()), rel=1e-12)
    assert v["ci95"] == pytest.approx([math.exp(r.mean() - half), math.exp(r.mean() + half)])
    conv = summary["convergence"]
    assert conv["trainings"] == 16 and conv["converged"] == 16  # flat validation curves


def test_task_where_noprop_matches_backprop_is_flagged_uninformative():
    config = SGConfig(tasks=("digits/mlp/1", "digits/mlp/3"), methods=("backprop", "noprop"),
                      seeds=3)  # fmt: skip
    acc = {("digits/mlp/1", "backprop"): 0.98, ("digits/mlp/1", "noprop"): 0.975,
           ("digits/mlp/3", "backprop"): 0.98, ("digits/mlp/3", "noprop"): 0.85}  # fmt: skip
    cs = cells(config)
    payloads = [_payload(0.9, acc[c["task"], c["method"]] - 0.001 * c["seed"]) for c in cs]
    summary = summarise(config, cs, payloads)
    assert summary["uninformative_tasks"] == ["digits/mlp/1"]
    flags = {v["cell"]["task"]: v["cell"].get("flag") for v in summary["verdicts"]}
    assert flags == {"digits/mlp/1": "uninformative", "digits/mlp/3": None}
    assert "uninformative" in STUDY.render(config, summary)["result.md"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_quick_run_leaves_the_shipped_full_result_untouched_and_resumes(tmp_path, capsys):
    shutil.copytree(SHIPPED / SHIPPED_RUN, tmp_path / "synthetic_gradients" / "full",
                    ignore=shutil.ignore_patterns("cells"))  # fmt: skip
    before = _files(tmp_path / "synthetic_gradients" / "full")
    assert main(["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "| sobolev_critic[softplus] |" in capsys.readouterr().out
    assert _files(tmp_path / "synthetic_gradients" / "full") == before
    folder = tmp_path / "synthetic_gradients" / "quick"
    pay = read_result(folder / "result.json")["payload"]
    assert len(pay["summary"]) == 12 and all(r["n_ok"] == 2 for r in pay["summary"])
    assert {r["chosen_trial"] for r in pay["summary"]} <= {0, 1}
    assert all(len(s["val_error_per_trial"]) == 2 for s in pay["selection"])
    # Diagnostics per module and per cut for the decoupled methods.
    for c in pay["cells"]:
        curves = c["result"]["curves"]
        assert len(curves["dead"][-1]) == 3
        n_mod = 0 if c["cell"]["method"] in ("backprop", "noprop") else 3
        assert len(curves["common"][-1]) == len(curves["r2"][-1]) == n_mod
    # The RQ3b ratio from the stored cells of the chosen trials, recomputed by hand.
    rq3b = [v for v in pay["verdicts"] if v["claim"] == CLAIM_RQ3B]
    assert [v["cell"]["task"] for v in rq3b] == ["digits/mlp/3", "mnist1d/cnn/3"]
    chosen = {(r["task"], r["method"]): r["chosen_trial"] for r in pay["summary"]}
    err = {
        (c["cell"]["method"], c["cell"]["seed"]): 100 * (1 - c["result"]["test_acc"])
        for c in pay["cells"]
        if c["cell"]["task"] == "digits/mlp/3"
        and chosen["digits/mlp/3", c["cell"]["method"]] == c["cell"]["trial"]
    }
    logs = [math.log(err["gradient_critic", s] / err["sobolev_critic", s]) for s in (0, 1)]
    assert rq3b[0]["ratio"] == pytest.approx(math.exp(sum(logs) / 2), rel=1e-12)
    assert pay["convergence"]["trainings"] == 48
    md = (folder / "result.md").read_text()
    assert "sobolev_critic[softplus] vs gradient_critic[softplus]" in md
    # A second run reuses every cell and gives the same summary.
    assert main(["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]) == 0
    again = read_result(folder / "result.json")["payload"]
    assert again["timing"]["cells_reused"] == 48 and again["timing"]["cells_computed"] == 0
    assert again["summary"] == pay["summary"] and again["verdicts"] == pay["verdicts"]
    assert main(["report", "synthetic_gradients", "--preset", "quick", "--out", str(tmp_path)]) == 0
    assert (folder / "result.md").read_text() == md


def test_custom_run_goes_to_its_own_folder(tmp_path, capsys):
    sets = ["tasks=digits/mlp/1", "methods=dni,value_critic", "critic_activations=relu",
            "seeds=1", "steps=10", "eval_every=5"]  # fmt: skip
    argv = ["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    text = capsys.readouterr().out
    assert "| value_critic[relu] |" in text
    (folder,) = (tmp_path / "synthetic_gradients").iterdir()
    assert folder.name.startswith("quick-custom-") and str(folder / "result.json") in text
    doc = read_result(folder / "result.json")
    assert doc["config"]["critic_activations"] == ["relu"]
    assert [c["cell"]["method"] for c in doc["payload"]["cells"]] == ["dni"] * 2 + [
        "value_critic"
    ] * 2


def test_bad_data_dir_is_reported_before_training(tmp_path, capsys):
    argv = ["run", "synthetic_gradients", "--set", "tasks=mnist/mlp/3", "--out", str(tmp_path)]
    assert main([*argv, "--set", f"data_dir={tmp_path / 'x'}"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    assert main(argv) == 2
    assert "data_dir" in capsys.readouterr().err
    assert main(["run", "synthetic_gradients", "--set", "seeds=true"]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["run", "synthetic_gradients", "--set", "sobolev_grid=raw:1"]) == 2
    assert "same number of trials" in capsys.readouterr().err
    assert not (tmp_path / "synthetic_gradients").exists()


def test_report_reproduces_the_shipped_tables(tmp_path):
    folder = tmp_path / "full"
    shutil.copytree(SHIPPED / SHIPPED_RUN, folder, ignore=shutil.ignore_patterns("cells"))
    (folder / "result.md").unlink()
    (folder / "result.csv").unlink()
    from sobolev_lab.runner import report

    outcome = report(STUDY, folder)
    assert [p.name for p in outcome.files] == ["result.csv", "result.md"]  # json unchanged
    for fname in ("result.md", "result.csv", "result.json"):
        assert (folder / fname).read_bytes() == (SHIPPED / SHIPPED_RUN / fname).read_bytes()
    pay = read_result(folder / "result.json")["payload"]
    assert all(r["n_ok"] == r["n_seeds"] for r in pay["summary"])
    assert {r["task"] for r in pay["summary"]} == {"digits/mlp/3", "mnist1d/mlp/3", "mnist1d/cnn/3"}
    assert len({r["method"] for r in pay["summary"]}) == 6


def test_figure_draws_from_the_shipped_result(tmp_path):
    pytest.importorskip("matplotlib")
    from sobolev_lab.paper_figs import _style
    from sobolev_lab.paper_figs import synthetic_gradients as fig

    _style.setup()
    paths = fig.draw([SHIPPED / SHIPPED_RUN / "result.json"], tmp_path)
    assert [p.name for p in paths] == ["synthetic_gradients.png", "synthetic_gradients.pdf"]
    assert all(p.stat().st_size > 10_000 for p in paths)
