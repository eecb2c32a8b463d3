"""``sobolev teachers``: list the shipped MinAtar teachers, or train one with PPO.

Usage::

    sobolev teachers list                      # the shipped teachers and their returns
    sobolev teachers train --game breakout     # retrain a teacher, update the manifest

The study itself runs through ``sobolev run distillation``. Errors the user can fix
(unknown game, MinAtar missing, manifest unreadable) raise ``ValueError``, which the
``sobolev`` command prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse


def _train(args: argparse.Namespace) -> int:
    from sobolev_lab.experiments.distillation.envs import check_game, require_minatar
    from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, PPOConfig, train_teacher

    check_game(args.game)
    require_minatar()
    config = PPOConfig() if args.frames is None else PPOConfig(frames=args.frames)
    entry = train_teacher(
        args.game, seed=args.seed, config=config, teacher_dir=args.teacher_dir or TEACHER_DIR
    )
    r, rr = entry["mean_return"], entry["random_return"]
    print(
        f"{args.game}: teacher mean return {r['mean']:.2f} ± {r['sem']:.2f} "
        f"(random policy {rr['mean']:.2f} ± {rr['sem']:.2f}), {entry['train_seconds']:.0f} s; "
        f"wrote {entry['file']} (sha256 {entry['sha256'][:12]}...)"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, read_manifest

    manifest = read_manifest(args.teacher_dir or TEACHER_DIR)
    if not manifest:
        print("no teachers yet: run `sobolev teachers train --game GAME`")
    for game, e in sorted(manifest.items()):
        print(
            f"{game:<16} return {e['mean_return']['mean']:7.2f} "
            f"(random {e['random_return']['mean']:5.2f})  frames {e['ppo_config']['frames']:,}  "
            f"seed {e['seed']}  {e['file']}  sha256 {e['sha256'][:12]}..."
        )
    return 0


def register_teachers(subparsers) -> None:
    """Add the ``teachers`` subcommand (``list`` and ``train``) to the ``sobolev`` parser."""
    p = subparsers.add_parser(
        "teachers",
        help="the PPO teachers of the distillation study: list, train",
        description="List the shipped MinAtar teachers, or train one with PPO.",
    )
    sub = p.add_subparsers(title="commands", metavar="<command>")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    ls = sub.add_parser("list", help="list the teachers with their returns and checksums")
    ls.add_argument("--teacher-dir", help="folder with manifest.json (default: shipped)")
    ls.set_defaults(func=_list)

    t = sub.add_parser("train", help="train a teacher with PPO and update the manifest")
    t.add_argument("--game", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--frames", type=int, help="environment frames (default 1,000,000)")
    t.add_argument("--teacher-dir", help="where to write (default: the shipped folder)")
    t.set_defaults(func=_train)
