"""The reproduction driver and the headline summary built from every study's verdicts."""

import sys
from pathlib import Path

from sobolev_lab import registry
from sobolev_lab.paper_figs import reproduce as rp
from sobolev_lab.paper_figs.summary import headline
from sobolev_lab.runner import run

sys.path.insert(0, str(Path(__file__).parent / "lab"))


def test_headline_counts_each_studys_verdicts_and_names_missing_results(tmp_path, monkeypatch):
    from toy_study import STUDY

    monkeypatch.setitem(registry.STUDIES, "toy", "toy_study:STUDY")
    run(STUDY, "quick", out=tmp_path, progress=False)
    text = headline(tmp_path, "quick")
    assert "toy: 2 paired comparisons" in text
    assert "method vs baseline  error   2    0     0" in text
    assert f"regression: no results at {tmp_path}/regression/quick/result.json" in text


def test_quick_reproduction_of_one_study_runs_it_and_summarises(tmp_path, capsys):
    status = rp.reproduce("quick", tmp_path, tmp_path / "figures", jobs=1, only=["theorems"])
    out = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "theorems" / "quick" / "result.json").exists()
    assert (tmp_path / "figures" / "theory.png").exists()
    assert "theorems: 0 paired comparisons" in out


def test_every_registered_study_is_run_by_each_preset():
    for preset in rp.PRESETS:
        steps = dict(rp.commands(preset, Path("R"), jobs=2))
        assert set(steps) == {"theory", *registry.STUDIES}
        for name in registry.STUDIES:
            assert steps[name][:4] == ["run", name, "--preset", preset]
