"""``sobolev distill``: teachers and the policy-distillation study on MinAtar.

Usage::

    sobolev distill run --preset quick            # one game, < 1 minute
    sobolev distill run --preset full             # 3 games x 4 fractions x 3 seeds
    sobolev distill run --preset full --seeds 5 --steps 2000 --pool-size 50000 --name large
    sobolev distill train-teacher --game breakout # retrain a shipped teacher
    sobolev distill teachers                      # list the shipped teachers

Errors the user can fix (unknown game, MinAtar missing, teacher missing or corrupt,
bad option values) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys


def _error(exc: Exception) -> int:
    print(f"sobolev distill: error: {exc}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    import torch

    from sobolev_lab.experiments.distillation.study import preset, run_study

    torch.set_num_threads(1)
    try:
        cfg = preset(args.preset)
        overrides = {
            "games": args.games,
            "methods": args.methods,
            "fractions": args.fractions,
            "seeds": args.seeds,
            "steps": args.steps,
            "pool_size": args.pool_size,
            "batch_size": args.batch_size,
            "episodes": args.episodes,
            "sobolev_weight": args.sobolev_weight,
            "side": args.side,
            "device": args.device,
            "teacher_dir": args.teacher_dir,
            "name": args.name,
        }
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(cfg["sobolev_weight"], str) and cfg["sobolev_weight"] != "auto":
            cfg["sobolev_weight"] = float(cfg["sobolev_weight"])
        res = run_study(cfg, args.out, backend=args.backend, n_jobs=args.jobs)
    except ValueError as exc:  # includes DistillationError
        return _error(exc)
    from pathlib import Path

    print((Path(args.out) / f"{cfg['name']}.md").read_text())
    t = res["timing"]
    print(
        f"wrote {args.out}/{cfg['name']}.json, .csv, .md, _curves.csv; wall "
        f"{t['wall_seconds_this_run']:.1f} s ({t['cells_computed']} cells computed, "
        f"{t['cells_reused']} reused)"
    )
    return 0


def _train_teacher(args: argparse.Namespace) -> int:
    import torch

    from sobolev_lab.experiments.distillation.envs import check_game, require_minatar
    from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, PPOConfig, train_teacher

    torch.set_num_threads(1)
    try:
        check_game(args.game)
        require_minatar()
        config = PPOConfig() if args.frames is None else PPOConfig(frames=args.frames)
        entry = train_teacher(
            args.game, seed=args.seed, config=config, teacher_dir=args.teacher_dir or TEACHER_DIR
        )
    except ValueError as exc:
        return _error(exc)
    r, rr = entry["mean_return"], entry["random_return"]
    print(
        f"{args.game}: teacher mean return {r['mean']:.2f} ± {r['sem']:.2f} "
        f"(random policy {rr['mean']:.2f} ± {rr['sem']:.2f}), {entry['train_seconds']:.0f} s; "
        f"wrote {entry['file']} (sha256 {entry['sha256'][:12]}...)"
    )
    return 0


def _teachers(args: argparse.Namespace) -> int:
    from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, read_manifest

    try:
        manifest = read_manifest(args.teacher_dir or TEACHER_DIR)
    except ValueError as exc:
        return _error(exc)
    if not manifest:
        print("no teachers yet: run `sobolev distill train-teacher --game GAME`")
    for game, e in sorted(manifest.items()):
        print(
            f"{game:<16} return {e['mean_return']['mean']:7.2f} "
            f"(random {e['random_return']['mean']:5.2f})  frames {e['ppo_config']['frames']:,}  "
            f"seed {e['seed']}  {e['file']}  sha256 {e['sha256'][:12]}..."
        )
    return 0


def register(subparsers) -> None:
    """Add the ``distill`` subcommand (with ``run``, ``train-teacher``, ``teachers``)."""
    p = subparsers.add_parser(
        "distill",
        help="regular vs Sobolev policy distillation on MinAtar (paper Sec. 5.2)",
        description="Regular vs Sobolev policy distillation of PPO teachers on MinAtar.",
    )
    sub = p.add_subparsers(title="commands", metavar="<command>")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    r = sub.add_parser("run", help="run (or resume) the study; options override the preset")
    r.add_argument("--preset", choices=["quick", "full"], default="quick")
    r.add_argument("--games", nargs="+")
    r.add_argument("--methods", nargs="+", help="regular and/or sobolev")
    r.add_argument("--fractions", nargs="+", type=float, help="training fractions of the pool")
    r.add_argument("--seeds", type=int)
    r.add_argument("--steps", type=int, help="Adam steps per student")
    r.add_argument("--pool-size", type=int, help="states recorded per game")
    r.add_argument("--batch-size", type=int)
    r.add_argument("--episodes", type=int, help="episodes per return measurement")
    r.add_argument("--sobolev-weight", help='weight w1 of the derivative term, or "auto"')
    r.add_argument(
        "--side",
        choices=["output", "input"],
        help="side of the projections (default input: the cheaper step)",
    )
    r.add_argument("--device", help="cpu (default) or cuda")
    r.add_argument("--teacher-dir", help="folder with manifest.json (default: shipped)")
    r.add_argument("--name", help="result file name (default: the preset's)")
    r.add_argument("--out", default="results/distillation")
    r.add_argument("--backend", choices=["sequential", "loky"], default="sequential")
    r.add_argument("--jobs", type=int, default=1, help="worker processes (loky)")
    r.set_defaults(func=_run)

    t = sub.add_parser("train-teacher", help="train a teacher with PPO and update the manifest")
    t.add_argument("--game", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--frames", type=int, help="environment frames (default 1,000,000)")
    t.add_argument("--teacher-dir", help="where to write (default: the shipped folder)")
    t.set_defaults(func=_train_teacher)

    ls = sub.add_parser("teachers", help="list the shipped teachers")
    ls.add_argument("--teacher-dir")
    ls.set_defaults(func=_teachers)
