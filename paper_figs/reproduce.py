"""``sobolev reproduce``: run every study, then draw every figure, then summarise.

Each study runs as ``sobolev run <study> --preset P`` in a child process, so one failing
study is reported and the others still run, and this module imports none of them.
Studies resume from their finished cells, so an interrupted reproduction continues
where it stopped. Results go to ``RESULTS/<study>/<preset>/`` (the runner's layout);
quick ones are scratch (git ignores them), full ones are what the repository ships.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

PRESETS = ("quick", "full")
DEFAULT_RESULTS = Path("results")
DEFAULT_FIGURES = {
    "quick": Path("results") / "figures" / "quick",
    "full": Path("paper_figs") / "figures",
}


def commands(preset: str, results: Path, jobs: int, only: list[str] | None = None):
    """``(label, sobolev arguments)`` of every step of a reproduction."""
    from sobolev_lab.registry import STUDIES

    steps = [("theory", ["theory", *(["--quick"] if preset == "quick" else [])])]
    for name in STUDIES:
        args = ["run", name, "--preset", preset, "--out", str(results), "--no-progress"]
        steps.append((name, [*args, "--jobs", str(jobs)]))
    return [s for s in steps if not only or s[0] in only]


def _run(label: str, args: list[str], log: Path) -> tuple[bool, float]:
    t0 = time.perf_counter()
    print(f"==> {label}: sobolev {' '.join(args)}", flush=True)
    with log.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "sobolev_lab.cli", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.perf_counter() - t0
    status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see {log})"
    print(f"    {status}, {seconds:.0f} s", flush=True)
    return proc.returncode == 0, seconds


def reproduce(
    preset: str, results: Path, figures: Path, jobs: int, only: list[str] | None = None
) -> int:
    """Run the studies of ``preset``, the figures and the summary; 0 if all succeeded."""
    from sobolev_lab.paper_figs import render
    from sobolev_lab.paper_figs.summary import headline

    logs = results / "logs" / preset
    logs.mkdir(parents=True, exist_ok=True)
    ok_all = True
    t0 = time.perf_counter()
    for label, args in commands(preset, results, jobs, only):
        ok, _ = _run(label, args, logs / f"{label}.log")
        ok_all &= ok
    print("==> figures", flush=True)
    for name, outcome in render(results=results, out=figures, preset=preset).items():
        shown = outcome if isinstance(outcome, str) else ", ".join(str(p) for p in outcome)
        print(f"    {name:<22}{shown}")
    print()
    print(headline(results, preset))
    print(
        f"\nresults in {results}/<study>/{preset}/, figures in {figures}/, logs in {logs}/; "
        f"total {time.perf_counter() - t0:.0f} s"
    )
    return 0 if ok_all else 1


def _main(args: argparse.Namespace) -> int:
    results = Path(args.results)
    figures = Path(args.figures) if args.figures else DEFAULT_FIGURES[args.preset]
    return reproduce(args.preset, results, figures, args.jobs, args.only)


def register(subparsers) -> None:
    """Add the ``reproduce`` subcommand."""
    from sobolev_lab.registry import STUDIES

    p = subparsers.add_parser(
        "reproduce", help="run every study, draw every figure, print the headline comparisons"
    )
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default="quick",
        help="quick: minutes on 2 cores (what `make demo` runs); full: what is shipped",
    )
    p.add_argument("--jobs", type=int, default=2, help="worker processes per study")
    p.add_argument("--only", nargs="+", choices=["theory", *STUDIES], help="run only these steps")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="results root")
    p.add_argument("--figures", help="figure folder (default: by preset)")
    p.set_defaults(func=_main)
