"""The distillation study: a grid of (seed, game, fraction, student, method) cells.

Each student cell tunes one method for one student architecture on one training
fraction: it trains the method's ``trials`` (the same number for every method) with
early stopping on the validation states, keeps the configuration with the lowest
validation KL, and scores that student on the test states (KL(teacher || student),
action-prediction error, Jacobian error) and in the game (returns, actions sampled
from the student). Training, validation and test states come from disjoint episodes
(:func:`.pool.split_by_episode`). Extra cells measure the teacher's and the random
policy's return with the same episodes.

All methods of a (seed, game, fraction, student) use the same states, student
initialisation, minibatch order and evaluation episodes. Return cells come first,
then student cells fraction by fraction and game by game, so a run stopped early
holds whole (fraction, game) blocks. Tables and verdicts: :mod:`.summary`;
config and preflight checks: :mod:`.config`.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import torch

from sobolev_lab.experiments.distillation.config import (
    PRESETS,
    DistillationConfig,
    preflight,
)
from sobolev_lab.experiments.distillation.distill import (
    Prepared,
    distill,
    policy_metrics,
    student_return,
)
from sobolev_lab.experiments.distillation.envs import play, require_minatar
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_by_episode
from sobolev_lab.experiments.distillation.student import flat_log_policy
from sobolev_lab.experiments.distillation.summary import render, summarise
from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, load_teacher
from sobolev_lab.protocol import converged, select_scores
from sobolev_lab.study import Study

__all__ = ["STUDY", "cells", "run_cell"]

#: Config fields copied into every student cell.
_STUDENT_KEYS = (
    "pool_size",
    "pool_seed",
    "pool_envs",
    "epsilon",
    "val_fraction",
    "test_fraction",
    "steps",
    "batch_size",
    "lr",
    "eval_every",
    "patience",
    "teacher_derivatives",
    "jacobian_states",
)


def cells(config: DistillationConfig) -> list[dict[str, Any]]:
    """One dict per tuned student, plus teacher and random-policy return cells."""
    cfg = config.to_dict()
    common = {}
    for game in config.games:
        _, entry = load_teacher(game, config.teacher_dir or TEACHER_DIR)
        common[game] = {
            "game": game,
            "teacher_sha256": entry["sha256"],
            "teacher_dir": config.teacher_dir,
            "episodes": config.episodes,
            "max_steps": config.max_steps,
        }
    student_kwargs = {
        "conv": {"channels": config.student_channels, "hidden": config.student_hidden},
        "mlp": {"mlp_hidden": config.mlp_hidden},
    }
    out = []
    for seed in range(config.seeds):
        for game in config.games:
            for kind in ("teacher", "random"):
                out.append({**common[game], "kind": kind, "seed": seed})
    # Fraction by fraction, then game: a run stopped early holds whole (fraction, game)
    # blocks with every seed, student and method.
    for fraction in config.fractions:
        for game in config.games:
            for seed in range(config.seeds):
                for student in config.students:
                    for method in config.methods:
                        factor = config.budget_factor if method == "regular" else 1.0
                        out.append(
                            {
                                **common[game],
                                "kind": "student",
                                "seed": seed,
                                "fraction": fraction,
                                "student": student,
                                "student_kwargs": student_kwargs[student],
                                "method": method,
                                "trials": config.trials(method),
                                "budget": math.ceil(factor * config.steps),
                                **{k: cfg[k] for k in _STUDENT_KEYS},
                                "device": config.device,
                            }
                        )
    return out


def _eval_seed(seed: int) -> int:
    # Disjoint from pool seeds (small) and teacher-training seeds (seed * 1000 + i).
    return 2_000_000 + 1000 * seed


@functools.lru_cache(maxsize=4)
def _pool(game: str, teacher_dir: str, sha: str, size: int, seed: int, epsilon: float, envs: int):
    """Recorded on CPU so that the pool does not depend on the training device."""
    teacher, _ = load_teacher(game, teacher_dir)
    return record_pool(teacher.logits, game, size, seed=seed, epsilon=epsilon, parallel=envs)


def _trial_record(hp: dict, info: dict, steps: int) -> dict[str, Any]:
    curve = info["curve"]
    head = [i for i, s in enumerate(curve["step"]) if s <= steps]
    flag = False  # a diverged training has not converged
    if head and not info["diverged"]:
        flag = converged(
            [curve["val_kl"][i] for i in head], [curve["step"][i] for i in head], budget=steps
        )
    keys = ("best_step", "best_val_kl", "stopped_step", "early_stopped", "diverged")
    return {
        "hp": hp,
        "converged": bool(flag),
        **{k: info[k] for k in keys},
        **{k: info[k] for k in ("sobolev_weight", "prepare_seconds", "train_seconds")},
        "seconds_per_step": info["seconds_per_step"],
        "curve": curve,
    }


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Compute one cell (see :func:`cells`); returns a JSON-serialisable dict.

    Return cells give ``returns`` (per episode) and ``mean_return``. Student cells give
    ``n_train``, ``n_val``, ``n_test``, ``selection`` (chosen hyperparameters, every
    trial's validation KL), ``trials`` (per trial: hyperparameters, curve, best and
    stopping step, convergence flag, timing), the chosen student's ``test_kl``,
    ``test_action_error``, ``test_jacobian_rel_error``, ``returns``, ``mean_return``,
    ``return_sem``, and ``pool_seconds``.
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
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    states, episodes = _pool(
        game,
        teacher_dir,
        entry["sha256"],
        cell["pool_size"],
        cell["pool_seed"],
        cell["epsilon"],
        cell["pool_envs"],
    )
    pool_seconds = time.perf_counter() - t0
    train, val, test = split_by_episode(
        episodes,
        cell["fraction"],
        val_fraction=cell["val_fraction"],
        test_fraction=cell["test_fraction"],
        seed=seed,
    )
    obs_shape = tuple(entry["obs_shape"])
    teacher = teacher.to(device)
    teacher_logp = flat_log_policy(teacher.logits, obs_shape)
    prep = Prepared(
        teacher_logp,
        as_flat(states[train], device),
        as_flat(states[val], device),
        as_flat(states[test], device),
        cell["method"],
        cell["teacher_derivatives"],
    )
    trials, best, best_score = [], None, math.inf
    for hp in cell["trials"]:
        net, info = distill(
            prep,
            obs_shape,
            entry["n_actions"],
            method=cell["method"],
            steps=cell["steps"],
            budget=cell["budget"],
            seed=seed,
            student=cell["student"],
            student_kwargs=cell["student_kwargs"],
            batch_size=cell["batch_size"],
            lr=cell["lr"],
            eval_every=cell["eval_every"],
            patience=cell["patience"],
            **hp,
        )
        trials.append(_trial_record(hp, info, cell["steps"]))
        score = math.inf if info["best_val_kl"] is None else info["best_val_kl"]
        if score < best_score:
            best, best_score = net, score
    selection = select_scores(
        cell["trials"],
        [[math.inf if t["best_val_kl"] is None else t["best_val_kl"]] for t in trials],
        metric="validation KL(teacher || student)",
    )
    chosen = trials[selection.index]
    at = chosen["curve"]["step"].index(chosen["best_step"])
    jac = policy_jacobian_error(prep, best, cell["jacobian_states"])
    ret = student_return(
        best, game, episodes=cell["episodes"], seed=_eval_seed(seed), max_steps=cell["max_steps"]
    )
    return {
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "selection": selection.record(),
        "test_kl": chosen["curve"]["test_kl"][at],
        "test_action_error": chosen["curve"]["test_action_error"][at],
        "test_jacobian_rel_error": jac,
        "returns": ret["returns"],
        "mean_return": ret["mean"],
        "return_sem": ret["sem"],
        "trials": trials,
        "pool_seconds": pool_seconds,
        # CPU time of this process: the cell's cost on an unloaded core (the runner's
        # wall seconds also count time waiting for a shared core).
        "cpu_seconds": time.process_time() - cpu0,
    }


def policy_jacobian_error(prep: Prepared, student, states: int) -> float | None:
    """Relative Jacobian error of ``student`` on the first ``states`` test states."""
    if states <= 0:
        return None
    obs_shape = prep.teacher_logp.obs_shape
    out = policy_metrics(
        prep.teacher_logp, flat_log_policy(student, obs_shape), prep.x_test, states
    )
    return out["jacobian_rel_error"]


STUDY = Study(
    name="distillation",
    description=(
        "Sobolev vs tuned regular and noise-augmented policy distillation of PPO teachers "
        "on MinAtar (Sec. 5.2)"
    ),
    config=DistillationConfig,
    presets=PRESETS,
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
    preflight=preflight,
)
