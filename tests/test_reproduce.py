"""The reproduction driver and the headline summary."""

from pathlib import Path

from sobolev_lab.paper_figs import reproduce as rp
from sobolev_lab.paper_figs.summary import headline

FIXTURE = Path(__file__).parent / "fixtures" / "results"


def test_headline_summarises_every_study_present():
    text = headline(FIXTURE, "paper")
    assert "Regression: test MSE ratio" in text
    assert "Distillation" in text and "KL Sobolev" in text
    assert "Synthetic gradients (digits)" in text
    assert "Universal approximation" in text


def test_headline_reports_missing_results(tmp_path):
    assert "no results at" in headline(tmp_path, "quick")


def test_quick_preset_runs_one_study_figures_and_summary(tmp_path, capsys):
    status = rp.reproduce("quick", tmp_path, tmp_path / "figures", jobs=1, only=["regression"])
    out = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "regression" / "quick.json").exists()
    assert (tmp_path / "figures" / "styblinski_tang.png").exists()
    assert "Sobolev wins on values" in out and "figures" in out


def test_every_study_of_each_preset_is_a_known_subcommand():
    from sobolev_lab.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for preset in rp.STUDIES.values():
        for _, args in preset:
            assert args[0] in commands
