"""Synthetic-gradient study through the runner: verdicts, layout, resume, shipped results."""

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


def _payload(acc, status="ok"):
    ok = status == "ok"
    return {"status": status, "final_test_acc": acc if ok else None,
            "final_cosine": [0.5] if ok else None, "seconds_per_step": 0.1,
            "curves": {"step": [1], "test_acc": [acc], "train_loss": [1.0],
                       "cosine": [[0.5]]}}  # fmt: skip


def test_verdicts_pair_seeds_and_drop_diverged_runs():
    config = SGConfig(methods=("critic", "sobolev"), modules=(1,), seeds=4)
    accs = {"critic": [0.90, 0.80, 0.85, 0.70], "sobolev": [0.95, 0.90, 0.93, 0.99]}
    cs = cells(config)
    payloads = [
        _payload(accs[c["method"]][c["seed"]], "diverged" if c["seed"] == 3 else "ok") for c in cs
    ]
    summary = summarise(config, cs, payloads)
    (v,) = summary["verdicts"]
    assert set(VERDICT_KEYS) <= v.keys()
    assert v["claim"] == CLAIM_RQ3B and (v["baseline"], v["method"]) == ("critic", "sobolev")
    assert v["cell"] == {"dataset": "digits", "modules": 1, "critic_activation": "relu"}
    assert v["n_seeds"] == 3 and v["n_dropped"] == 1
    # Independent reference: log ratios of test errors [%] and a t interval, in float64.
    err_c = 100 * (1 - np.array(accs["critic"][:3], dtype=np.float64))
    err_s = 100 * (1 - np.array(accs["sobolev"][:3], dtype=np.float64))
    r = np.log(err_c / err_s)
    half = stats.t.ppf(0.975, 2) * r.std(ddof=1) / math.sqrt(3)
    assert v["ratio"] == pytest.approx(math.exp(r.mean()), rel=1e-12)
    assert v["ci95"] == pytest.approx([math.exp(r.mean() - half), math.exp(r.mean() + half)])
    assert v["verdict"] in ("win", "tie")
    assert summary["convergence"] == {
        "trainings": 8,
        "converged": None,
        "criterion": "not assessed (issue #16)",
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_quick_run_leaves_the_shipped_full_result_untouched_and_resumes(tmp_path, capsys):
    shutil.copytree(SHIPPED / "full", tmp_path / "synthetic_gradients" / "full")
    before = _files(tmp_path / "synthetic_gradients" / "full")
    assert main(["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "| sobolev |" in capsys.readouterr().out
    assert _files(tmp_path / "synthetic_gradients" / "full") == before
    folder = tmp_path / "synthetic_gradients" / "quick"
    pay = read_result(folder / "result.json")["payload"]
    rows = {(r["method"], r["modules"]): r for r in pay["summary"]}
    assert len(rows) == 10 and all(r["n_ok"] == 2 for r in rows.values())
    # backprop does not depend on where the (unused) cuts are
    assert rows["backprop", 1]["test_acc_mean"] == rows["backprop", 3]["test_acc_mean"]
    assert pay["curves"]["sobolev/3"]["step"][-1] == 60
    assert (folder / "result.csv").read_text().count("\n") == 11
    verdicts = pay["verdicts"]
    assert len(verdicts) == 10 and all(v["n_seeds"] == 2 for v in verdicts)
    rq3b = [v for v in verdicts if v["claim"] == CLAIM_RQ3B]
    assert [v["cell"]["modules"] for v in rq3b] == [1, 3]
    # The RQ3b ratio from the stored cells, recomputed by hand.
    err = {
        (c["cell"]["method"], c["cell"]["modules"], c["cell"]["seed"]): 100
        * (1 - c["result"]["final_test_acc"])
        for c in pay["cells"]
    }
    logs = [math.log(err["critic", 3, s] / err["sobolev", 3, s]) for s in (0, 1)]
    assert rq3b[1]["ratio"] == pytest.approx(math.exp(sum(logs) / 2), rel=1e-12)
    assert pay["convergence"]["trainings"] == 20 and pay["convergence"]["converged"] is None
    md = (folder / "result.md").read_text()
    assert "sobolev vs critic" in md and "| sobolev |" in md
    # A second run reuses every cell and gives the same summary.
    assert main(["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]) == 0
    again = read_result(folder / "result.json")["payload"]
    assert again["timing"]["cells_reused"] == 20 and again["timing"]["cells_computed"] == 0
    assert again["summary"] == pay["summary"] and again["verdicts"] == pay["verdicts"]
    assert main(["report", "synthetic_gradients", "--preset", "quick", "--out", str(tmp_path)]) == 0
    assert (folder / "result.md").read_text() == md


def test_custom_run_goes_to_its_own_folder(tmp_path, capsys):
    sets = ["methods=sg,sobolev", "modules=1", "seeds=1", "steps=10", "critic_activation=softplus"]
    argv = ["run", "synthetic_gradients", "--out", str(tmp_path), "--no-progress"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    text = capsys.readouterr().out
    assert "| sobolev |" in text and "No paired comparisons" in text
    (folder,) = (tmp_path / "synthetic_gradients").iterdir()
    assert folder.name.startswith("quick-custom-") and str(folder / "result.json") in text
    doc = read_result(folder / "result.json")
    assert doc["config"]["critic_activation"] == "softplus"
    assert [c["cell"]["method"] for c in doc["payload"]["cells"]] == ["sg", "sobolev"]


def test_bad_data_dir_is_reported_before_training(tmp_path, capsys):
    argv = ["run", "synthetic_gradients", "--preset", "quick-mnist", "--out", str(tmp_path)]
    assert main([*argv, "--set", f"data_dir={tmp_path / 'x'}"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    assert main(argv) == 2
    assert "data_dir" in capsys.readouterr().err
    assert main(["run", "synthetic_gradients", "--set", "seeds=true"]) == 2
    assert "seeds" in capsys.readouterr().err
    assert not (tmp_path / "synthetic_gradients").exists()


@pytest.mark.parametrize("name", ["full", "full-softplus"])
def test_report_reproduces_the_shipped_tables(tmp_path, name):
    shutil.copytree(SHIPPED / name, tmp_path / name)
    folder = tmp_path / name
    (folder / "result.md").unlink()
    (folder / "result.csv").unlink()
    from sobolev_lab.runner import report

    outcome = report(STUDY, folder)
    assert [p.name for p in outcome.files] == ["result.csv", "result.md"]  # json unchanged
    for fname in ("result.md", "result.csv", "result.json"):
        assert (folder / fname).read_bytes() == (SHIPPED / name / fname).read_bytes()


def test_figure_draws_from_the_shipped_result(tmp_path):
    pytest.importorskip("matplotlib")
    from sobolev_lab.paper_figs import _style
    from sobolev_lab.paper_figs import synthetic_gradients as fig

    _style.setup()
    paths = fig.draw([SHIPPED.parent / p for p in fig.REQUIRES["full"]], tmp_path)
    assert [p.name for p in paths] == ["synthetic_gradients.png", "synthetic_gradients.pdf"]
    assert all(p.stat().st_size > 10_000 for p in paths)
