"""The distillation study: a grid of (game, train fraction, method, seed) cells.

Each student cell trains one student (:func:`distill`) on a training fraction of a pool
of states recorded from the game's shipped teacher, and scores it on the held-out
states (KL(teacher || student), action-prediction error, Jacobian error) and in the
game (mean return, actions sampled from the student). Extra cells measure the
teacher's and the random policy's return with the same episodes.

Both methods of a (game, fraction, seed) use the same training states, student
initialisation, minibatch order, steps and evaluation episodes. Tables and verdicts:
:mod:`.summary`; config and preflight checks: :mod:`.config`.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import torch

from sobolev_lab.experiments.distillation.config import (
    PRESETS,
    DistillationConfig,
    preflight,
)
from sobolev_lab.experiments.distillation.distill import distill, student_return
from sobolev_lab.experiments.distillation.envs import play, require_minatar
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_pool
from sobolev_lab.experiments.distillation.summary import render, summarise
from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, load_teacher
from sobolev_lab.study import Study

__all__ = ["STUDY", "cells", "run_cell"]

#: Config fields copied into every student cell, in the order cells have always had.
_STUDENT_KEYS = (
    "pool_size",
    "pool_seed",
    "epsilon",
    "test_fraction",
    "steps",
    "batch_size",
    "lr",
    "sobolev_weight",
    "side",
    "teacher_derivatives",
    "eval_every",
    "curve_states",
    "jacobian_states",
)


def cells(config: DistillationConfig) -> list[dict[str, Any]]:
    """One dict per student training, plus teacher and random-policy return cells."""
    cfg = config.to_dict()
    out = []
    for game in config.games:
        _, entry = load_teacher(game, config.teacher_dir or TEACHER_DIR)
        common = {
            "game": game,
            "teacher_sha256": entry["sha256"],
            "teacher_dir": config.teacher_dir,
            "episodes": config.episodes,
            "max_steps": config.max_steps,
        }
        for seed in range(config.seeds):
            for kind in ("teacher", "random"):
                out.append({**common, "kind": kind, "seed": seed})
            for fraction in config.fractions:
                for method in config.methods:
                    out.append(
                        {
                            **common,
                            "kind": "student",
                            "seed": seed,
                            "fraction": fraction,
                            "method": method,
                            **{k: cfg[k] for k in _STUDENT_KEYS},
                            "student": {
                                "channels": config.student_channels,
                                "hidden": config.student_hidden,
                            },
                            "device": config.device,
                        }
                    )
    return out


def _eval_seed(seed: int) -> int:
    # Disjoint from pool seeds (small) and teacher-training seeds (seed * 1000 + i).
    return 2_000_000 + 1000 * seed


@functools.lru_cache(maxsize=4)
def _pool(game: str, teacher_dir: str, sha: str, size: int, seed: int, epsilon: float):
    """Recorded on CPU so that the pool does not depend on the training device."""
    teacher, _ = load_teacher(game, teacher_dir)
    return record_pool(teacher.logits, game, size, seed=seed, epsilon=epsilon)


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Compute one cell (see :func:`cells`); returns a JSON-serialisable dict.

    Return cells give ``returns`` (per episode) and ``mean_return``; student cells
    ``n_train``, ``n_test``, ``test_kl``, ``test_action_error``,
    ``test_jacobian_rel_error``, ``mean_return``, ``curve`` (``step``, ``test_kl``,
    ``train_loss`` lists), ``sobolev_weight`` (the weight used), ``train_seconds``,
    ``seconds_per_step`` and ``pool_seconds``.
    """
    torch.set_num_threads(1)
    require_minatar()
    game, seed = cell["game"], cell["seed"]
    teacher_dir = cell["teacher_dir"] or str(TEACHER_DIR)
    teacher, entry = load_teacher(game, teacher_dir)
    if entry["sha256"] != cell["teacher_sha256"]:
        raise ValueError(f"the {game} teacher changed since this study was configured")
    if cell["kind"] in ("teacher", "random"):
        fn = teacher.logits if cell["kind"] == "teacher" else None
        r = play(
            fn, game, episodes=cell["episodes"], seed=_eval_seed(seed), max_steps=cell["max_steps"]
        )
        return {"returns": r.tolist(), "mean_return": float(r.mean())}
    device = torch.device(cell["device"])
    t0 = time.perf_counter()
    states = _pool(
        game, teacher_dir, entry["sha256"], cell["pool_size"], cell["pool_seed"], cell["epsilon"]
    )
    pool_seconds = time.perf_counter() - t0
    train, test = split_pool(
        len(states), cell["fraction"], test_fraction=cell["test_fraction"], seed=seed
    )
    teacher = teacher.to(device)
    student, info = distill(
        teacher,
        tuple(entry["obs_shape"]),
        entry["n_actions"],
        as_flat(states[train], device),
        as_flat(states[test], device),
        method=cell["method"],
        steps=cell["steps"],
        seed=seed,
        batch_size=cell["batch_size"],
        lr=cell["lr"],
        sobolev_weight=cell["sobolev_weight"],
        eval_every=cell["eval_every"],
        curve_states=cell["curve_states"],
        jacobian_states=cell["jacobian_states"],
        student_kwargs=cell["student"],
        side=cell["side"],
        teacher_derivatives=cell["teacher_derivatives"],
    )
    ret = student_return(
        student, game, episodes=cell["episodes"], seed=_eval_seed(seed), max_steps=cell["max_steps"]
    )
    return {
        "n_train": len(train),
        "n_test": len(test),
        **{f"test_{k}": v for k, v in info["test"].items()},
        "mean_return": ret["mean"],
        "curve": info["curve"],
        "sobolev_weight": info["sobolev_weight"],
        "train_seconds": info["seconds"],
        "seconds_per_step": info["seconds_per_step"],
        "pool_seconds": pool_seconds,
    }


STUDY = Study(
    name="distillation",
    description="regular vs Sobolev policy distillation of PPO teachers on MinAtar (Sec. 5.2)",
    config=DistillationConfig,
    presets=PRESETS,
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
    preflight=preflight,
)
