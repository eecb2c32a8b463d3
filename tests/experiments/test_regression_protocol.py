"""The regression study under the fair-comparison protocol (``protocol=true``, issue #14)."""

import json
import math

import numpy as np
import pytest

from sobolev_lab.experiments.regression import STUDY, cells
from sobolev_lab.experiments.regression.protocol_cell import candidates, run_cell
from sobolev_lab.results import read_result
from sobolev_lab.runner import report, run

#: Seconds of work: 2 functions, 12 points in 2 folds, 2 seeds, 8-8 networks, short GENN.
TINY = [
    "functions=booth,ackley",
    "n_train=12",
    "seeds=2",
    "folds=2",
    "steps=40",
    "eval_every=10",
    "patience=2",
    "hidden=8,8",
    "n_test=100",
    "genn_iterations=20",
]
ALL = ("regular", "sobolev", "sobolev_estimated", "GENN", "GEKPLS", "KRG")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("protocol")
    return run(STUDY, "protocol-quick", TINY, out=out, progress=False)


def test_every_method_and_peer_is_selected_refitted_and_evaluated(tiny):
    res = tiny.payload
    assert [c["cell"]["version"] for c in res["cells"]] == [2, 2]
    for c in res["cells"]:
        methods = c["result"]["methods"]
        assert tuple(methods) == ALL
        for name, r in methods.items():
            assert len(r["test_mse_values"]) == 2 and min(r["test_mse_values"]) > 0
            assert len(r["test_mse_gradients"]) == 2 and len(r["fit_seconds"]) == 2
            if name in ("GEKPLS", "KRG"):
                assert "selection" not in r  # their own likelihood, no CV
                continue
            # Equal budgets: every tuned method chose among 4 candidates on 2 folds.
            for sel in r["selection"]:
                assert sel["n_trials"] == 4 and sel["n_splits"] == 2
                assert sel["cv_score"] == min(s for s in sel["scores"] if s is not None)
        for name in ("regular", "sobolev", "sobolev_estimated"):
            r = methods[name]
            # configs x folds x seeds trainings judged for convergence.
            assert len(r["converged"]) == r["cv_members"] == 4 * 2 * 2
            assert all(10 <= s <= 40 and s % 10 == 0 for s in r["refit_steps"])
            assert all(0 <= f <= 1 for f in r["dead_unit_fraction"])
            assert min(r["train_loss_order0"]) > 0
        assert max(methods["regular"]["train_loss_order1"]) == 0.0
        assert min(methods["sobolev"]["train_loss_order1"]) > 0
        chosen = [s["chosen"] for s in methods["sobolev"]["selection"]]
        assert all(c["derivative_weight"] in (1.0, "auto") for c in chosen)
        assert all("derivative_weight" not in s["chosen"] for s in methods["regular"]["selection"])
        # The value-only baseline tunes its L2 weight decay (issue #14).
        assert all(
            s["chosen"]["weight_decay"] in (0.0, 1e-4) for s in methods["regular"]["selection"]
        )


def test_summary_verdicts_convergence_and_report(tiny):
    res = tiny.payload
    conv = res["convergence"]
    assert conv["trainings"] == 2 * 3 * 16
    assert 0 <= conv["converged"] <= conv["trainings"]
    assert "last quarter" in conv["criterion"]
    by = res["convergence_by_activation"]
    assert [(r["n_train"], r["activation"]) for r in by] == [(12, "relu")]
    assert (by[0]["converged"], by[0]["trainings"]) == (conv["converged"], conv["trainings"])
    vs_reg = [v for v in res["verdicts"] if v["baseline"] == "regular"]
    vs_peer = [v for v in res["verdicts"] if v["baseline"] != "regular"]
    # 2 cells x 5 methods x 2 metrics against regular; 2 cells x 3 peers x 2 metrics.
    assert len(vs_reg) == 20 and len(vs_peer) == 12
    assert {v["method"] for v in vs_peer} == {"sobolev"}
    for v in res["verdicts"]:
        assert v["n_seeds"] == 2 and v["verdict"] in ("win", "loss", "tie")
    # Each method's ratio is the geometric mean of the per-seed baseline / method errors.
    cell = res["cells"][0]["result"]["methods"]
    v = next(
        v
        for v in vs_reg
        if v["method"] == "KRG"
        and v["metric"] == "test_mse_values"
        and v["cell"]["function"] == "booth"
    )
    ratios = np.array(cell["regular"]["test_mse_values"]) / np.array(cell["KRG"]["test_mse_values"])
    assert v["ratio"] == pytest.approx(math.exp(np.log(ratios).mean()), rel=1e-9)
    assert len(res["best"]) == 2 and {b["best_values"] for b in res["best"]} <= set(ALL)
    md = (tiny.folder / "result.md").read_text()
    csv = (tiny.folder / "result.csv").read_text()
    again = report(STUDY, tiny.folder)
    assert (tiny.folder / "result.md").read_text() == md
    assert (tiny.folder / "result.csv").read_text() == csv
    assert again.payload["verdicts"] == res["verdicts"]
    assert read_result(tiny.folder / "result.json")["config"]["protocol"] is True


def test_convergence_flags_split_by_activation_follow_the_stacks():
    from sobolev_lab.experiments.regression import PRESETS
    from sobolev_lab.experiments.regression.config import RegressionConfig
    from sobolev_lab.experiments.regression.protocol_cell import converged_by_activation
    from sobolev_lab.protocol import kfold, member_stacks

    cell = cells(RegressionConfig(**{**PRESETS["tuned"], "seeds": 2, "n_train": [10]}))[0]
    rng = np.random.default_rng(0)
    x, y, dy = rng.uniform(-1, 1, (2, 10, 2)), rng.normal(size=(2, 10)), rng.normal(size=(2, 10, 2))
    splits = [kfold(10, cell["folds"], seed=s) for s in range(2)]
    for method, g in (("regular", None), ("sobolev", dy)):
        stacks = member_stacks(
            x, y, g, candidates(cell)[method], splits, [0, 1], shared_keys=("activation", "lr")
        )
        # Label every training by its stack's activation, in the order _network appends.
        labels = [st.shared["activation"] for st in stacks for _ in st.members]
        split = converged_by_activation(cell, method, labels)
        assert list(split) == ["relu", "softplus", "tanh"]
        for act, got in split.items():
            assert got == [act] * (len(labels) // 3)
    with pytest.raises(ValueError, match="sobolev has 119 convergence flags"):
        converged_by_activation(cell, "sobolev", labels[:-1])


def test_selection_never_sees_the_test_set():
    """A different test set changes the metrics but not one selection score."""
    cfg = STUDY.preset("protocol-quick").replace(
        functions=("booth",), n_train=(12,), seeds=2, folds=2, steps=40, eval_every=10,
        patience=2, hidden=(8, 8), genn_iterations=20, peers=("GENN",),
    )  # fmt: skip
    (cell,) = cells(cfg)
    a = run_cell(cell)
    b = run_cell({**cell, "n_test": 37})
    for m in ("regular", "sobolev", "sobolev_estimated", "GENN"):
        assert a["methods"][m]["selection"] == b["methods"][m]["selection"]
        assert a["methods"][m]["test_mse_values"] != b["methods"][m]["test_mse_values"]


def test_candidates_give_every_method_the_same_budget():
    cfg = STUDY.preset("tuned")
    (cell, *_) = cells(cfg)
    got = candidates(cell)
    assert set(got) == {"regular", "sobolev", "sobolev_estimated", "GENN"}
    assert {len(v) for v in got.values()} == {12}
    assert {c["activation"] for c in got["regular"]} == {"relu", "softplus", "tanh"}
    assert len({json.dumps(c, sort_keys=True) for c in got["GENN"]}) == 12


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"folds": 3}, "must divide every n_train"),
        ({"regular_weight_decays": (0.0,)}, "equal budgets"),
        ({"peers": ("GP",)}, "unknown peer"),
        ({"derivative_weights": ("balanced",)}, "derivative_weights"),
        ({"activations": ("swish-ish",)}, "activations"),
        ({"steps": 50, "eval_every": 25}, "4 x eval_every"),
    ],
)
def test_protocol_config_errors_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        STUDY.preset("full").replace(**overrides)


def test_v1_presets_keep_their_cells():
    """The shipped fixed-budget results stay reportable: protocol off, version-1 cells."""
    for preset in ("quick", "fixed", "fixed-extended"):
        cfg = STUDY.preset(preset)
        assert cfg.protocol is False
        assert {c["version"] for c in cells(cfg)} == {1}


def test_a_failed_peer_fit_is_listed_and_left_out_of_the_tables(tiny):
    from sobolev_lab.experiments.regression.protocol_summary import render, summarise

    cfg = STUDY.config.from_dict(read_result(tiny.folder / "result.json")["config"])
    cells_ = [c["cell"] for c in tiny.payload["cells"]]
    payloads = json.loads(json.dumps([c["result"] for c in tiny.payload["cells"]]))
    payloads[0]["methods"]["GEKPLS"] = {"failed": "seed 1: ValueError: A has a NaN entry"}
    summary = summarise(cfg, cells_, payloads)
    assert summary["failures"] == [
        {
            "function": "booth",
            "n_train": 12,
            "method": "GEKPLS",
            "error": "seed 1: ValueError: A has a NaN entry",
        }
    ]
    booth = [r for r in summary["rows"] if r["function"] == "booth"]
    assert "GEKPLS" not in {r["method"] for r in booth} and len(booth) == len(ALL) - 1
    gek = [v for v in summary["verdicts"] if "GEKPLS" in (v["method"], v["baseline"])]
    assert {v["cell"]["function"] for v in gek} == {"ackley"}
    assert "A has a NaN entry" in render(cfg, summary)["result.md"]
