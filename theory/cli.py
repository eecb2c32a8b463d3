"""``sobolev theory``: print the ground-truth report (registered as an entry point).

Kept import-light: the heavy modules load inside :func:`run`.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``theory`` subcommand to the ``sobolev`` console script."""
    parser = subparsers.add_parser(
        "theory",
        help="report on the ground truth: test functions, Sobolev norms, theorems, counting",
        description=(
            "Print the test-function registry, Sobolev-norm checks against closed forms, "
            "the Theorem 1 / Proposition / Theorem 2 constructions and the sample-"
            "complexity counting table. Exit status 1 if any check fails."
        ),
    )
    parser.add_argument(
        "--preset",
        choices=("quick", "full"),
        default="full",
        help="quick: smaller counting table (d, q <= 4) and fewer knots (default: full)",
    )
    parser.add_argument(
        "--quick",
        dest="preset",
        action="store_const",
        const="quick",
        help="the same as --preset quick (kept for one release)",
    )
    parser.add_argument("--max-dim", type=int, default=6, help="counting table: largest d")
    parser.add_argument("--max-degree", type=int, default=6, help="counting table: largest q")
    parser.add_argument("--seed", type=int, default=0, help="seed for random points")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and print the report; return 0 if every check passed, else 1."""
    import torch

    from sobolev_lab.theory.report import build_report

    torch.set_num_threads(1)
    max_dim, max_degree = args.max_dim, args.max_degree
    if max_dim < 1 or max_degree < 1:
        raise SystemExit("--max-dim and --max-degree must be >= 1")
    quick = args.preset == "quick"
    if quick:
        max_dim, max_degree = min(max_dim, 4), min(max_degree, 4)
    text, ok = build_report(max_dim=max_dim, max_degree=max_degree, seed=args.seed, quick=quick)
    print(text)
    return 0 if ok else 1
