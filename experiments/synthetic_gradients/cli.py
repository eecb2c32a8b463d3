"""``sobolev sg``: the synthetic-gradient study from the command line.

Example::

    sobolev sg --preset quick                       # digits, all methods, 1 and 3 modules
    sobolev sg --preset full --seeds 5 --out results/sg
    sobolev sg --dataset mnist --data-dir ~/data/mnist --preset full --device cuda --amp
"""

from __future__ import annotations

import argparse
import sys
import time

from sobolev_lab.experiments.synthetic_gradients.config import METHODS, PRESETS, study_config
from sobolev_lab.experiments.synthetic_gradients.data import DATASETS, DataError
from sobolev_lab.experiments.synthetic_gradients.models import ALLOWED_MODULES
from sobolev.models import ACTIVATIONS


def _main(args: argparse.Namespace) -> int:
    import torch

    from sobolev_lab.experiments.synthetic_gradients.study import markdown_table, run_study

    torch.set_num_threads(1)
    overrides = {"device": args.device, "amp": args.amp, "conditioned": not args.unconditioned}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.critic_activation is not None:
        overrides["critic_activation"] = args.critic_activation
    try:
        study = study_config(
            args.dataset,
            preset=args.preset,
            methods=args.methods,
            modules=args.modules,
            seeds=args.seeds,
            **overrides,
        )
        if args.dataset != "digits":  # fail on a bad data directory before any training
            from sobolev_lab.experiments.synthetic_gradients.data import load_dataset

            load_dataset(args.dataset, args.data_dir)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda given but torch.cuda.is_available() is False")
    except (ValueError, DataError) as exc:
        print(f"sobolev sg: error: {exc}", file=sys.stderr)
        return 2
    n_cells = len(study["methods"]) * len(study["modules"]) * study["seeds"]
    print(
        f"synthetic gradients on {args.dataset}: {n_cells} cells "
        f"({len(study['methods'])} methods x {len(study['modules'])} module counts x "
        f"{study['seeds']} seeds), preset {args.preset}, device {args.device}"
    )
    t0 = time.perf_counter()
    payload, paths = run_study(study, args.out, n_jobs=args.jobs, progress=True)
    print(markdown_table(payload["summary"]))
    if payload["sweep"]["failed"]:
        print(f"{payload['sweep']['failed']} cell(s) failed; re-run to retry them", file=sys.stderr)
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    print("outputs: " + ", ".join(str(p) for p in paths.values()))
    print(f"cells: {args.out}/{args.dataset}/cells/ (finished cells are reused on re-run)")
    return 1 if payload["sweep"]["failed"] else 0


def register(subparsers) -> None:
    """Add the ``sg`` subcommand."""
    p = subparsers.add_parser(
        "sg",
        help="decoupled training with synthetic gradients and Sobolev-trained critics",
        description="Compare backprop, noprop, direct synthetic gradients (DNI), a critic "
        "trained on gradients and a Sobolev-trained critic (values and gradients).",
    )
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--data-dir", default=None, help="folder with MNIST IDX / CIFAR-10 batches")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    p.add_argument("--modules", nargs="+", type=int, choices=ALLOWED_MODULES, default=None)
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: preset)")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast for the network")
    p.add_argument(
        "--critic-activation",
        choices=sorted(ACTIVATIONS),
        default=None,
        help="activation of the critics (default relu)",
    )
    p.add_argument("--unconditioned", action="store_true", help="modules do not see labels")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", default="results/sg")
    p.set_defaults(func=_main)
