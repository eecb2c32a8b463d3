"""``sobolev figures``: regenerate every figure from the shipped results."""

from __future__ import annotations

import argparse


def _main(args: argparse.Namespace) -> int:
    from sobolev_lab.paper_figs import render

    report = render(only=args.only, results=args.results, out=args.out, preset=args.preset)
    for name, outcome in report.items():
        if isinstance(outcome, str):
            print(f"{name:<22}{outcome}")
        else:
            print(f"{name:<22}{', '.join(str(p) for p in outcome)}")
    return 0


def register(subparsers) -> None:
    """Add the ``figures`` subcommand."""
    from sobolev_lab.paper_figs import DEFAULT_OUT, DEFAULT_RESULTS, FIGURES

    p = subparsers.add_parser("figures", help="draw every figure from results/ (never trains)")
    p.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="figures to draw")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="results folder")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder for PNG and PDF")
    p.add_argument(
        "--preset",
        choices=["full", "quick"],
        default="full",
        help="read the shipped full-scale results or those of a quick reproduction",
    )
    p.set_defaults(func=_main)
