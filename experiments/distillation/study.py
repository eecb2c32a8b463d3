"""The distillation study: a grid of (game, train fraction, method, seed) cells.

Each cell trains one student (:func:`distill`) on a training fraction of a pool of
states recorded from the game's shipped teacher, and scores it on the held-out states
(KL(teacher || student), action-prediction error, Jacobian error) and in the game
(mean return, actions sampled from the student). Extra cells measure the teacher's
and the random policy's return with the same episodes. Cells run through
:func:`sobolev_lab.sweep.run_sweep`, so an interrupted study resumes.

Both methods of a (game, fraction, seed) use the same training states, student
initialisation, minibatch order, steps and evaluation episodes.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sobolev_lab.experiments.distillation.distill import METHODS, distill, student_return
from sobolev_lab.experiments.distillation.envs import check_game, play, require_minatar
from sobolev_lab.experiments.distillation.pool import as_flat, record_pool, split_pool
from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, load_teacher
from sobolev_lab.results import atomic_write_text, write_result
from sobolev_lab.stats import mean_sem
from sobolev_lab.sweep import run_sweep

__all__ = ["PRESETS", "build_cells", "preset", "run_cell", "run_study"]

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "games": ["breakout"],
        "pool_size": 1000,
        "fractions": [0.05, 0.5],
        "seeds": 1,
        "steps": 100,
        "batch_size": 128,
        "episodes": 2,
        "max_steps": 300,
    },
    "full": {
        "games": ["breakout", "space_invaders", "freeway"],
        "pool_size": 10_000,
        "fractions": [0.01, 0.05, 0.1, 0.5],
        "seeds": 3,
        "steps": 500,
        "batch_size": 128,
        "episodes": 6,
        "max_steps": 2500,
    },
}
DEFAULTS: dict[str, Any] = {
    "methods": list(METHODS),
    "pool_seed": 0,
    "epsilon": 0.05,
    "test_fraction": 0.5,
    "lr": 1e-3,
    "sobolev_weight": "auto",
    "side": "input",
    "teacher_derivatives": "precomputed",
    "eval_every": 25,
    "curve_states": 2000,
    "jacobian_states": 500,
    "student": {"channels": 8, "hidden": 64},
    "device": "cpu",
    "teacher_dir": None,
}


def preset(name: str) -> dict[str, Any]:
    """A copy of a preset's study config (``quick`` or ``full``) with all defaults."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return {**DEFAULTS, **PRESETS[name], "name": name}


def validate(cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the first bad entry of a study config."""
    if not cfg["games"]:
        raise ValueError("games must name at least one game")
    if not cfg["methods"] or any(m not in METHODS for m in cfg["methods"]):
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {cfg['methods']}")
    for g in cfg["games"]:
        check_game(g)
    for f in cfg["fractions"]:
        split_pool(10, f, test_fraction=cfg["test_fraction"], seed=0)
    for key in ("pool_size", "seeds", "steps", "batch_size", "episodes", "max_steps"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {cfg[key]!r}")
    if cfg["pool_size"] < 100:
        raise ValueError(f"pool_size must be at least 100, got {cfg['pool_size']}")
    try:
        device = torch.device(cfg["device"])
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f'device must be "cpu" or "cuda[:k]", got {cfg["device"]!r}') from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg['device']!r} asked for but CUDA is not available")


def build_cells(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One config per student training, plus teacher and random-policy return cells."""
    teacher_dir = cfg["teacher_dir"] or str(TEACHER_DIR)
    cells = []
    for game in cfg["games"]:
        _, entry = load_teacher(game, teacher_dir)  # fails early on a missing teacher
        common = {
            "game": game,
            "teacher_sha256": entry["sha256"],
            "teacher_dir": cfg["teacher_dir"],
            "episodes": cfg["episodes"],
            "max_steps": cfg["max_steps"],
        }
        for seed in range(cfg["seeds"]):
            for kind in ("teacher", "random"):
                cells.append({**common, "kind": kind, "seed": seed})
            for fraction in cfg["fractions"]:
                for method in cfg["methods"]:
                    cells.append(
                        {
                            **common,
                            "kind": "student",
                            "seed": seed,
                            "fraction": fraction,
                            "method": method,
                            **{
                                k: cfg[k]
                                for k in (
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
                                    "student",
                                    "device",
                                )
                            },
                        }
                    )
    return cells


def _eval_seed(seed: int) -> int:
    # Disjoint from pool seeds (small) and teacher-training seeds (seed * 1000 + i).
    return 2_000_000 + 1000 * seed


@functools.lru_cache(maxsize=4)
def _pool(game: str, teacher_dir: str, sha: str, size: int, seed: int, epsilon: float):
    """Recorded on CPU so that the pool does not depend on the training device."""
    teacher, _ = load_teacher(game, teacher_dir)
    return record_pool(teacher.logits, game, size, seed=seed, epsilon=epsilon)


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Compute one cell (see :func:`build_cells`); returns a JSON-serialisable dict."""
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
            fn,
            game,
            episodes=cell["episodes"],
            seed=_eval_seed(seed),
            max_steps=cell["max_steps"],
        )
        return {"returns": r.tolist(), "mean_return": float(r.mean())}
    device = torch.device(cell["device"])
    t0 = time.perf_counter()
    states = _pool(
        game,
        teacher_dir,
        entry["sha256"],
        cell["pool_size"],
        cell["pool_seed"],
        cell["epsilon"],
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
        student,
        game,
        episodes=cell["episodes"],
        seed=_eval_seed(seed),
        max_steps=cell["max_steps"],
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


METRICS = ("test_kl", "test_action_error", "test_jacobian_rel_error", "mean_return")


def summarise(cfg: dict[str, Any], cells: list[dict], payloads: list[dict | None]) -> dict:
    """Rows per (game, fraction, method) with mean and standard error over seeds."""
    done = [(c, p) for c, p in zip(cells, payloads, strict=True) if p is not None]
    rows = []
    for game in cfg["games"]:
        ref = {}
        for kind in ("teacher", "random"):
            vals = [p["mean_return"] for c, p in done if c["game"] == game and c["kind"] == kind]
            ref[kind] = mean_sem(vals, single=None) if vals else (None, None)
        for fraction in cfg["fractions"]:
            for method in cfg["methods"]:
                sel = [
                    (c, p)
                    for c, p in done
                    if c["game"] == game
                    and c["kind"] == "student"
                    and c["fraction"] == fraction
                    and c["method"] == method
                ]
                if not sel:
                    continue
                row = {
                    "game": game,
                    "fraction": fraction,
                    "n_train": sel[0][1]["n_train"],
                    "method": method,
                    "seeds": len(sel),
                    "teacher_return": ref["teacher"][0],
                    "teacher_return_sem": ref["teacher"][1],
                    "random_return": ref["random"][0],
                }
                for m in METRICS:
                    row[m], row[m + "_sem"] = mean_sem([p[m] for _, p in sel], single=None)
                row["seconds_per_step"] = float(np.mean([p["seconds_per_step"] for _, p in sel]))
                rows.append(row)
    return {"rows": rows}


def _fmt(mean: float | None, sem: float | None, digits: int = 3) -> str:
    if mean is None:
        return "-"
    if sem is None:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {sem:.2g}"


def markdown_table(rows: list[dict]) -> str:
    """Paper-style table: games x train fraction x {regular, Sobolev}."""
    by = {(r["game"], r["fraction"], r["method"]): r for r in rows}
    keys = sorted({(r["game"], r["fraction"]) for r in rows}, key=lambda k: (k[0], k[1]))
    lines = [
        "| game | train fraction (states) | KL regular | KL Sobolev | action error regular "
        "| action error Sobolev | return regular | return Sobolev | teacher return |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for game, frac in keys:
        reg, sob = by.get((game, frac, "regular")), by.get((game, frac, "sobolev"))
        any_row = reg or sob
        cells = [f"{game}", f"{frac:g} ({any_row['n_train']})"]
        for m in ("test_kl", "test_action_error", "mean_return"):
            sa = "-" if reg is None else _fmt(reg[m], reg[m + "_sem"])
            sb_ = "-" if sob is None else _fmt(sob[m], sob[m + "_sem"])
            if reg is not None and sob is not None:
                better = (sob[m] < reg[m]) if m != "mean_return" else (sob[m] > reg[m])
                sb_ = f"**{sb_}**" if better else sb_
            cells += [sa, sb_]
        cells.append(_fmt(any_row["teacher_return"], any_row["teacher_return_sem"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def run_study(
    cfg: dict[str, Any],
    out_dir: str | Path = "results/distillation",
    *,
    backend: str = "sequential",
    n_jobs: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) a study and write ``NAME.json``, ``.csv``, ``.md``, ``_curves.csv``.

    Parameters
    ----------
    cfg : dict
        A :func:`preset` with any overrides; ``cfg["name"]`` names the output files.
    out_dir : path-like
        Holds the result files and ``cells/`` (one file per finished cell).
    backend, n_jobs : as in :func:`sobolev_lab.sweep.run_sweep`
    progress : bool

    Returns
    -------
    dict
        The payload written to ``NAME.json``.
    """
    require_minatar()
    validate(cfg)
    out_dir = Path(out_dir)
    cells = build_cells(cfg)
    t0 = time.perf_counter()
    sweep = run_sweep(
        run_cell,
        cells,
        out_dir,
        backend=backend,
        n_jobs=n_jobs,
        progress=progress,
        desc=f"distill {cfg['name']}",
    )
    sweep.raise_on_failure()
    summary = summarise(cfg, cells, sweep.payloads)
    curves = [
        {
            "game": c["game"],
            "fraction": c["fraction"],
            "method": c["method"],
            "seed": c["seed"],
            "step": s,
            "test_kl": kl,
            "train_loss": tl,
        }
        for c, p in zip(cells, sweep.payloads, strict=True)
        if c["kind"] == "student"
        for s, kl, tl in zip(
            p["curve"]["step"], p["curve"]["test_kl"], p["curve"]["train_loss"], strict=True
        )
    ]
    payload = {
        **summary,
        "cells": [
            {"config": c, "result": {k: v for k, v in p.items() if k != "curve"}}
            for c, p in zip(cells, sweep.payloads, strict=True)
        ],
        "curves": curves,
        "timing": {
            "wall_seconds_this_run": time.perf_counter() - t0,
            "cells_computed": sweep.done,
            "cells_reused": sweep.skipped,
            "cell_seconds_total": float(sum(s for s in sweep.seconds if s is not None)),
        },
    }
    name = cfg["name"]
    write_result(out_dir / f"{name}.json", payload, cfg)
    atomic_write_text(out_dir / f"{name}.csv", _csv(summary["rows"]))
    atomic_write_text(out_dir / f"{name}_curves.csv", _csv(curves))
    atomic_write_text(out_dir / f"{name}.md", markdown_table(summary["rows"]))
    return payload
