"""``sobolev regression``: the command line of the regression study."""

from __future__ import annotations

import argparse
import sys


def _main(args: argparse.Namespace) -> int:
    import torch

    from sobolev_lab.experiments.regression.config import preset
    from sobolev_lab.experiments.regression.driver import run

    torch.set_num_threads(1)
    if args.report_only:
        return _report_only(args)
    cfg = preset(args.preset)
    overrides = {
        "functions": args.functions,
        "n_train": args.n_train,
        "seeds": args.seeds,
        "steps": args.steps,
        "lr": args.lr,
        "methods": args.methods,
        "n_test": args.n_test,
        "convergence_check": args.convergence_check,
        "name": args.name,
    }
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    try:
        res = run(
            cfg,
            out_dir=args.out,
            backend=args.backend,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            progress=True,
        )
    except ValueError as exc:
        print(f"sobolev regression: invalid configuration: {exc}", file=sys.stderr)
        return 2
    from pathlib import Path

    name = res["config"]["name"]
    print((Path(args.out) / f"{name}.md").read_text())
    t = res["timing"]
    print(
        f"wrote {args.out}/{name}.json, .csv, .md; wall {t['wall_seconds_this_run']:.1f} s "
        f"({t['cells_computed']} cells computed, {t['cells_reused']} reused, "
        f"backend {args.backend}, jobs {args.jobs})"
    )
    return 0


def _report_only(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sobolev_lab.experiments.regression.driver import regenerate
    from sobolev_lab.results import CorruptResultError

    path = Path(args.out) / f"{args.name or args.preset}.json"
    try:
        regenerate(path)
    except (FileNotFoundError, CorruptResultError, ValueError) as exc:
        print(f"sobolev regression --report-only: {exc}", file=sys.stderr)
        return 2
    print(path.with_suffix(".md").read_text())
    print(f"rewrote {path.with_suffix('.csv')} and .md from {path} (no training; JSON unchanged)")
    return 0


def register(subparsers) -> None:
    """Add the ``regression`` subcommand."""
    p = subparsers.add_parser(
        "regression",
        help="regular vs Sobolev training on classical optimisation functions (paper Sec. 5.1)",
        description="Regular vs Sobolev training of an MLP on classical optimisation "
        "functions. Options given override the preset; finished cells in OUT/cells are "
        "reused, so an interrupted run resumes.",
    )
    p.add_argument("--preset", choices=["quick", "paper", "extended"], default="paper")
    p.add_argument("--functions", nargs="+", help='registry names, "name:d" for dimension d')
    p.add_argument("--n-train", nargs="+", type=int, help="training-set sizes")
    p.add_argument("--seeds", type=int, help="number of seeds")
    p.add_argument("--steps", type=int, help="Adam steps per training")
    p.add_argument("--lr", type=float, help="initial learning rate")
    p.add_argument("--methods", nargs="+", help="regular, sobolev, sobolev_estimated")
    p.add_argument("--n-test", type=int, help="test points per seed")
    p.add_argument(
        "--convergence-check",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train with twice the steps and report the relative change",
    )
    p.add_argument("--name", help="result file name (default: the preset's)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite OUT/NAME.csv and .md from the stored OUT/NAME.json (no training)",
    )
    p.add_argument("--backend", choices=["loky", "sequential", "dask"], default="loky")
    p.add_argument("--jobs", type=int, default=None, help="worker processes")
    p.add_argument("--scheduler", help="dask scheduler address (backend dask)")
    p.add_argument("--out", default="results/regression", help="output folder")
    p.set_defaults(func=_main)
