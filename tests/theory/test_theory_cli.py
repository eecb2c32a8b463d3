"""The ``sobolev theory`` subcommand and the independence of the theory package."""

import argparse
import pathlib
import re
import subprocess
import sys

import pytest

from sobolev_lab import theory
from sobolev_lab.theory.cli import register, run
from sobolev_lab.theory.report import build_report

THEORY_DIR = pathlib.Path(theory.__file__).parent


def test_register_adds_theory_subcommand():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(["theory", "--preset", "quick", "--max-dim", "2"])
    assert args.func is run and args.preset == "quick"
    assert args.max_dim == 2 and args.max_degree == 6
    assert parser.parse_args(["theory"]).preset == "full"
    assert parser.parse_args(["theory", "--quick"]).preset == "quick"


def test_quick_report_passes_and_has_every_section(capsys):
    status = run(argparse.Namespace(preset="quick", max_dim=2, max_degree=2, seed=0))
    out = capsys.readouterr().out
    assert status == 0
    for heading in (
        "Test functions",
        "Sobolev norms",
        "Theorem 1",
        "Proposition",
        "Theorem 2",
        "Sample complexity",
    ):
        assert heading in out
    assert "FAIL" not in out
    assert "styblinski_tang" in out and "-78.33233141" in out  # 2-D minimum


def test_counting_table_in_report_marks_exceptions():
    text, ok = build_report(max_dim=2, max_degree=2, quick=True)
    assert ok
    assert re.search(r"6/3\s*\(2\)\*", text)  # quadrics in the plane: 3 points, not 2


def test_cli_module_is_light():
    code = (
        "import sys, sobolev_lab.theory.cli; print('torch' in sys.modules, 'sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_theory_never_imports_sobolev():
    pattern = re.compile(r"^\s*(from|import)\s+sobolev\b", re.MULTILINE)
    offenders = [p.name for p in THEORY_DIR.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_theory_imports_only_theory_from_the_lab():
    # Data flows theory -> lab: the lab's fits and studies build on theory, never back.
    pattern = re.compile(r"^\s*(from|import)\s+sobolev_lab\.(?!theory\b)", re.MULTILINE)
    offenders = [p.name for p in THEORY_DIR.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_bad_cli_arguments():
    with pytest.raises(SystemExit):
        run(argparse.Namespace(preset="quick", max_dim=0, max_degree=2, seed=0))


def test_entry_point_is_installed():
    cli = pytest.importorskip("sobolev_lab.cli")
    args = cli.build_parser().parse_args(["theory", "--quick"])
    assert args.func is run
