"""The console script: version, help, and the demo at a tiny scale."""

import subprocess
import sys

import sobolev
from sobolev_lab import demo as _demo
from sobolev_lab.cli import main


def test_version_via_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "sobolev_lab.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and sobolev.__version__ in out.stdout


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_demo_runs_and_reports_both_methods():
    res = _demo.run(n_train=10, steps=5, n_test=50)
    assert set(res) == {"regular", "sobolev"}
    for r in res.values():
        assert r["test_mse_values"] > 0 and r["test_mse_gradients"] > 0
