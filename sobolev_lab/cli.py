"""The ``sobolev`` console script: one grammar for every study.

::

    sobolev list [STUDY]                       studies, presets and config fields
    sobolev run STUDY --preset P [--set key=value ...] [--jobs N] [--backend B]
                      [--scheduler ADDR] [--out DIR] [--name NAME] [--overwrite]
                      [--reuse FOLDER ...]
    sobolev report STUDY [--preset P | --name NAME] [--out DIR]
    sobolev figures | reproduce --preset quick|full | theory | demo | teachers

User errors (unknown study or field, a bad value, missing data) print one line and
exit with status 2; failed cells exit with status 1 after the others finished.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sobolev._version import __version__
from sobolev_lab.registry import STUDIES, TOOLS, _load, load_study

__all__ = ["build_parser", "main"]

#: Subcommands of earlier releases and the command that replaces them.
RENAMED = {
    "regression": "sobolev run regression --preset fixed (was --preset paper)",
    "sg": "sobolev run synthetic_gradients --preset full",
    "distill": "sobolev run distillation --preset full; teachers: sobolev teachers",
    "approx": "sobolev run universal|samples|theorems --preset full",
}


def _fields_text(name: str) -> str:
    from sobolev_lab.config import describe_fields

    study = load_study(name)
    lines = [f"{name}: {study.description}", "", "presets:"]
    for preset, changes in study.presets.items():
        shown = ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "(defaults)"
        lines.append(f"  {preset:<10} {shown}")
    lines += ["", "config fields (--set key=value):"]
    for field, tp, default, text in describe_fields(study.config):
        lines.append(f"  {field} ({tp}, default {default})")
        if text:
            lines.append(f"      {text}")
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    if args.study:
        print(_fields_text(args.study))
        return 0
    rows = [
        (name, ", ".join(s.presets), s.description)
        for name, s in ((n, load_study(n)) for n in STUDIES)
    ]
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    print(f"{'study':<{w0}}  {'presets':<{w1}}  description")
    for name, presets, text in rows:
        print(f"{name:<{w0}}  {presets:<{w1}}  {text}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from sobolev_lab.runner import run

    study = load_study(args.study)
    outcome = run(
        study,
        args.preset,
        args.set,
        out=args.out,
        name=args.name,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        reuse=args.reuse,
    )
    md = outcome.folder / "result.md"
    print(md.read_text())
    t = outcome.payload["timing"]
    print(
        f"wrote {', '.join(str(p) for p in outcome.files)}\n"
        f"wall {t['wall_seconds']:.1f} s; cells {t['cells_computed']} computed, "
        f"{t['cells_reused']} reused"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sobolev_lab.results import environment
    from sobolev_lab.runner import LegacyResult, report

    study = load_study(args.study)
    root = Path(args.out) / study.name
    if args.name or args.preset:
        folders = [root / (args.name or args.preset)]
    else:
        folders = sorted(p.parent for p in root.glob("*/result.json"))
        if not folders:
            raise FileNotFoundError(f"no stored results under {root}/")
    env = environment()  # once: each rewrite below modifies the git tree
    for folder in folders:
        try:
            outcome = report(study, folder, rebuilt_env=env)
        except LegacyResult as exc:
            # An explicitly named legacy result is an error; in a sweep over all, a note.
            if args.name or args.preset:
                raise
            print(f"{folder}: left as shipped: {exc}")
            continue
        print(f"{folder}: wrote {', '.join(p.name for p in outcome.files)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command."""
    parser = argparse.ArgumentParser(
        prog="sobolev",
        description="Sobolev Training: fit neural networks to values and input derivatives.",
        epilog="`sobolev list` shows the studies; `sobolev list STUDY` their config fields.",
    )
    parser.add_argument("--version", action="version", version=f"sobolev-training {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    p = sub.add_parser("list", help="studies, their presets and config fields")
    p.add_argument("study", nargs="?", choices=list(STUDIES))
    p.set_defaults(func=_list)

    p = sub.add_parser(
        "run",
        help="run (or resume) a study",
        description="Run or resume a study; `sobolev list STUDY` lists its --set fields.",
    )
    p.add_argument("study", choices=list(STUDIES))
    p.add_argument("--preset", default="quick", help="quick (default), full, or a study extra")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config field (repeatable); lists as a,b,c",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--backend", choices=("sequential", "loky", "dask"), default=None)
    p.add_argument("--scheduler", default=None, help="dask scheduler address")
    p.add_argument("--out", default="results", help="results root (default results)")
    p.add_argument("--name", default=None, help="output folder name (default: the preset)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a result made from another config"
    )
    p.add_argument(
        "--reuse",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="result folders of this study whose cells with the same config are taken "
        "instead of computed (assemble a preset shipped in parts)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)

    p = sub.add_parser("report", help="rebuild a study's tables from its stored cells")
    p.add_argument("study", choices=list(STUDIES))
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", default=None)
    group.add_argument("--name", default=None)
    p.add_argument("--out", default="results")
    p.set_defaults(func=_report)

    for name, path in TOOLS.items():
        try:
            _load(path)(sub)
        except (ImportError, AttributeError) as exc:
            # A tool whose optional dependencies are missing must not take the others down.
            q = sub.add_parser(name, help=f"(unavailable: {exc})")
            q.set_defaults(func=lambda args, exc=exc: _unavailable(exc))
    return parser


def _unavailable(exc: Exception) -> int:
    print(f"sobolev: unavailable: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    import torch

    from sobolev_lab.runner import CellFailures

    torch.set_num_threads(1)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in RENAMED:
        print(
            f"sobolev {argv[0]}: this command was replaced; use: {RENAMED[argv[0]]}",
            file=sys.stderr,
        )
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except CellFailures as exc:
        print(f"sobolev: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"sobolev: error: {exc}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
