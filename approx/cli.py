"""``sobolev approx universal|samples``: the approximation studies as resumable sweeps.

Examples
--------
``sobolev approx universal --preset quick --jobs 2``
``sobolev approx samples --preset full --jobs 1 --out results/approx``
``sobolev approx samples --preset large --backend dask --scheduler tcp://host:8786``

Finished cells are kept in ``OUT/<study>_<preset>/cells``; re-running the same
command skips them (and retries failed ones).
"""

from __future__ import annotations

import argparse
import sys


def _rates(rates: list) -> str:
    cells = zip(rates, (9, 10, 11), strict=True)
    return "".join(f"{'-' if v is None else f'{v:.2f}':>{w}}" for v, w in cells)


def _print_universal(payload: dict) -> None:
    print(
        f"{'function':<16}{'d':>2} {'act':<11}{'L':>2} {'method':<8}"
        f"{'rate L2':>9}{'rate W12':>10}{'rate W1inf':>11}{'W12 err (last)':>16}"
    )
    rows: dict[tuple, dict] = {}
    for r in payload["summary"]:
        key = (r["function"], r["dim"], r["activation"], r["hidden_layers"], r["method"])
        rows.setdefault(key, {})[r["metric"]] = r
    for (name, dim, act, depth, method), by in rows.items():
        rates = [by[m]["rate"] for m in ("l2", "w12", "w1inf")]
        txt = _rates(rates)
        last = by["w12"]["last_error"]
        print(f"{name:<16}{dim:>2} {act:<11}{depth:>2} {method:<8}{txt}{last:>16.3g}")
    for ref in payload["reference"]:
        fits = ref["fits"]
        rates = [fits[m]["exponent"] if fits[m] else None for m in ("l2", "w12", "w1inf")]
        txt = _rates(rates)
        print(
            f"{ref['function']:<16}{1:>2} {'relu':<11}{1:>2} {'interp.':<8}{txt}"
            f"{ref['errors']['w12'][-1]:>16.3g}"
        )


def _print_samples(payload: dict) -> None:
    print(f"{'d':>2} {'act':<9}{'method':>12}{'rate L2 [CI]':>22}{'rate W12 [CI]':>22}")
    for c in payload["curves"]:
        parts = []
        for m in ("l2", "w12"):
            f = c["fits"][m]
            if f is None:
                parts.append("-")
            else:
                lo, hi = f["exponent_ci"]
                parts.append(f"{f['exponent']:.2f} [{lo:.2f},{hi:.2f}]")
        print(f"{c['dim']:>2} {c['activation']:<9}{c['method']:>12}{parts[0]:>22}{parts[1]:>22}")
    print("samples to reach target (measured; fit) and ratio n_order0 / n_method vs counting")
    for r in payload["samples_to_target"]:
        if r["order"] == 0:
            continue
        fit = r["n_fit"]["value"] if r["n_fit"] and r["n_fit"]["valid"] else None
        fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
        print(
            f"d={r['dim']} {r['activation']} {r['metric']}<={r['target']} {r['method']}: "
            f"n={fmt(r['n_measured'])}; fit {fmt(fit)}; ratio measured "
            f"{fmt(r['ratio_measured'])}, fit {fmt(r['ratio_fit'])}, "
            f"heuristic {r['heuristic_ratio']}"
        )


def _main(args: argparse.Namespace) -> int:
    import torch

    from sobolev_lab.approx.driver import run_study

    torch.set_num_threads(1)
    study = args.approx_study
    try:
        payload = run_study(
            study,
            args.preset,
            args.out,
            backend=args.backend,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"sobolev approx {study}: {exc}", file=sys.stderr)
        return 2
    (_print_universal if study == "universal" else _print_samples)(payload)
    t, c = payload["timing"], payload["cells"]
    print(
        f"wrote {args.out}/{study}_{args.preset}.json and .csv; wall "
        f"{t['wall_seconds_this_run']:.1f} s; cells {c['done']} done, {c['skipped']} skipped, "
        f"{c['failed']} failed"
    )
    return 1 if c["failed"] else 0


def register(subparsers) -> None:
    """Add ``approx`` with the subcommands ``universal`` and ``samples``."""
    p = subparsers.add_parser(
        "approx",
        help="universal approximation in Sobolev norms and sample-complexity sweeps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(title="studies", metavar="<study>")
    helps = {
        "universal": "error vs width in L2, W^{1,2}, W^{1,inf} (regular vs Sobolev training)",
        "samples": "error vs number of training points for orders 0, 1, 2; power-law fits",
    }
    for name, text in helps.items():
        q = sub.add_parser(name, help=text, description=text)
        q.add_argument("--preset", default="quick", choices=["tiny", "quick", "full", "large"])
        q.add_argument("--out", default="results/approx", help="output folder")
        q.add_argument("--backend", default="loky", choices=["loky", "sequential", "dask"])
        q.add_argument("--jobs", type=int, default=None, help="worker processes")
        q.add_argument("--scheduler", default=None, help="dask scheduler address")
        q.add_argument("--no-progress", action="store_true")
        q.set_defaults(func=_main, approx_study=name)
    q = sub.add_parser(
        "theorems",
        help="figure data of Theorem 1, the interpolation Proposition and Theorem 2 (no training)",
    )
    q.add_argument("--out", default="results/approx", help="output folder")
    q.set_defaults(func=_theorems)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _theorems(args: argparse.Namespace) -> int:
    from sobolev_lab.approx.theorems import run

    print(f"wrote {run(args.out)}")
    return 0
