"""``sobolev reproduce``: run every study, then draw every figure, then summarise.

Each study runs as its own ``sobolev`` subcommand in a child process, so one failing
study is reported and the others still run, and this module imports none of them.
Studies resume from their finished cells, so an interrupted reproduction continues
where it stopped.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

#: Per preset: (label, sobolev subcommand arguments); {R} is the results folder.
STUDIES: dict[str, list[tuple[str, list[str]]]] = {
    "quick": [
        ("theory", ["theory", "--quick"]),
        ("regression", ["regression", "--preset", "quick", "--out", "{R}/regression"]),
        ("approx universal", ["approx", "universal", "--preset", "quick", "--out", "{R}/approx"]),
        ("approx samples", ["approx", "samples", "--preset", "quick", "--out", "{R}/approx"]),
        ("approx theorems", ["approx", "theorems", "--out", "{R}/approx"]),
        ("distillation", ["distill", "run", "--preset", "quick", "--out", "{R}/distillation"]),
        ("synthetic gradients", ["sg", "--preset", "quick", "--out", "{R}/sg"]),
    ],
    "paper": [
        ("theory", ["theory"]),
        ("regression", ["regression", "--preset", "paper", "--out", "{R}/regression"]),
        ("approx universal", ["approx", "universal", "--preset", "full", "--out", "{R}/approx"]),
        ("approx samples", ["approx", "samples", "--preset", "full", "--out", "{R}/approx"]),
        ("approx theorems", ["approx", "theorems", "--out", "{R}/approx"]),
        ("distillation", ["distill", "run", "--preset", "full", "--out", "{R}/distillation"]),
        ("synthetic gradients", ["sg", "--preset", "full", "--out", "{R}/sg"]),
    ],
}
JOBS_FLAG = {
    "regression",
    "approx universal",
    "approx samples",
    "distillation",
    "synthetic gradients",
}
DEFAULT_RESULTS = {"quick": Path("results") / "quick", "paper": Path("results")}
DEFAULT_FIGURES = {
    "quick": Path("results") / "quick" / "figures",
    "paper": Path("paper_figs") / "figures",
}


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

    results.mkdir(parents=True, exist_ok=True)
    logs = results / "logs"
    logs.mkdir(exist_ok=True)
    ok_all = True
    t0 = time.perf_counter()
    for label, template in STUDIES[preset]:
        if only and label.split()[0] not in only:
            continue
        args = [a.replace("{R}", str(results)) for a in template]
        if label in JOBS_FLAG:
            args += ["--jobs", str(jobs)]
        ok, _ = _run(label, args, logs / f"{label.replace(' ', '_')}.log")
        ok_all &= ok
    print("==> figures", flush=True)
    for name, outcome in render(results=results, out=figures, preset=preset).items():
        shown = outcome if isinstance(outcome, str) else ", ".join(str(p) for p in outcome)
        print(f"    {name:<22}{shown}")
    print()
    print(headline(results, preset))
    print(
        f"\nresults in {results}/, figures in {figures}/, logs in {logs}/; "
        f"total {time.perf_counter() - t0:.0f} s"
    )
    return 0 if ok_all else 1


def _main(args: argparse.Namespace) -> int:
    results = Path(args.results) if args.results else DEFAULT_RESULTS[args.preset]
    figures = Path(args.figures) if args.figures else DEFAULT_FIGURES[args.preset]
    return reproduce(args.preset, results, figures, args.jobs, args.only)


def register(subparsers) -> None:
    """Add the ``reproduce`` subcommand."""
    p = subparsers.add_parser(
        "reproduce", help="run every study, draw every figure, print the headline comparisons"
    )
    p.add_argument(
        "--preset",
        choices=sorted(STUDIES),
        default="quick",
        help="quick: minutes on 2 cores (what `make demo` runs); paper: full scale",
    )
    p.add_argument("--jobs", type=int, default=2, help="worker processes per study")
    p.add_argument(
        "--only",
        nargs="+",
        choices=sorted({label.split()[0] for label, _ in STUDIES["quick"]}),
        help="run only these studies (figures and summary always run)",
    )
    p.add_argument("--results", help="results folder (default: results/quick or results)")
    p.add_argument("--figures", help="figure folder")
    p.set_defaults(func=_main)
