"""Teacher policies: PPO training, shipped weights and checksummed loading.

``weights/<game>.pt`` holds a :class:`TeacherNet` state dict; ``manifest.json`` holds,
per game, the file's SHA-256, the PPO config and seed that produced it, the network
shape, and the measured mean return of the teacher and of the uniform random policy
(same protocol: :func:`sobolev_lab.experiments.distillation.envs.play`, sampling actions).
:func:`load_teacher` verifies the checksum before loading;
``sobolev teachers train --game GAME`` retrains one reproducibly on CPU.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from sobolev_lab.experiments.distillation.envs import (
    DistillationError,
    action_set,
    check_game,
    obs_shape,
    play,
)
from sobolev_lab.experiments.distillation.teachers.net import TeacherNet
from sobolev_lab.experiments.distillation.teachers.ppo import PPOConfig, train_ppo
from sobolev_lab.results import atomic_write_text
from sobolev_lab.stats import mean_sem

__all__ = [
    "TEACHER_DIR",
    "PPOConfig",
    "TeacherNet",
    "evaluate_returns",
    "load_teacher",
    "read_manifest",
    "sha256",
    "train_teacher",
]

TEACHER_DIR = Path(__file__).resolve().parent
MANIFEST = "manifest.json"
EVAL_EPISODES = 32
EVAL_MAX_STEPS = 2500


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(teacher_dir: str | Path = TEACHER_DIR) -> dict[str, Any]:
    """The manifest (game -> entry); empty when there is none yet."""
    path = Path(teacher_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DistillationError(f"teacher manifest {path} is not valid JSON: {exc}") from exc


def load_teacher(
    game: str, teacher_dir: str | Path = TEACHER_DIR, device: str | torch.device = "cpu"
) -> tuple[TeacherNet, dict[str, Any]]:
    """Load the shipped teacher of ``game`` after verifying its SHA-256.

    Returns
    -------
    net : TeacherNet
        In eval mode, parameters frozen, on ``device``.
    entry : dict
        The game's manifest entry.

    Raises
    ------
    DistillationError
        Unknown game, no manifest entry, missing file or checksum mismatch; the
        message says to retrain with ``sobolev teachers train``.
    """
    check_game(game)
    fix = f"run `sobolev teachers train --game {game}` to (re)create it"
    entry = read_manifest(teacher_dir).get(game)
    if entry is None:
        raise DistillationError(f"no teacher for {game!r} in {Path(teacher_dir) / MANIFEST}; {fix}")
    path = Path(teacher_dir) / entry["file"]
    if not path.exists():
        raise DistillationError(f"teacher weights {path} are missing; {fix}")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise DistillationError(
            f"teacher weights {path} are corrupt (SHA-256 {digest[:12]}... does not match "
            f"the manifest's {entry['sha256'][:12]}...); {fix}"
        )
    net = TeacherNet(entry["obs_shape"][2], entry["n_actions"], **entry["net"])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:  # a file with the right hash but the wrong layout
        raise DistillationError(f"teacher weights {path} cannot be loaded ({exc}); {fix}") from exc
    net.eval().requires_grad_(False)
    return net.to(device), entry


def evaluate_returns(
    net: TeacherNet | None, game: str, *, seed: int, episodes: int = EVAL_EPISODES
) -> dict[str, float]:
    """Mean and standard error of the return of ``net`` (None: random policy)."""
    fn = None if net is None else net.logits
    r = play(fn, game, episodes=episodes, seed=seed, max_steps=EVAL_MAX_STEPS)
    mean, sem = mean_sem(r, single=None)
    return {"mean": mean, "sem": sem}


def train_teacher(
    game: str,
    *,
    seed: int = 0,
    config: PPOConfig | None = None,
    teacher_dir: str | Path = TEACHER_DIR,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a teacher with PPO, save its weights and update the manifest.

    Returns the new manifest entry. Evaluation episodes use seeds disjoint from
    training (``10**6 + seed``).
    """
    check_game(game)
    config = config or PPOConfig()
    net, info = train_ppo(game, config, seed, progress=progress)
    teacher_dir = Path(teacher_dir)
    (teacher_dir / "weights").mkdir(parents=True, exist_ok=True)
    rel = f"weights/{game}.pt"
    torch.save(net.state_dict(), teacher_dir / rel)
    eval_seed = 10**6 + seed
    entry = {
        "file": rel,
        "sha256": sha256(teacher_dir / rel),
        "algorithm": "PPO (clipped, GAE)",
        "ppo_config": config.to_dict(),
        "seed": seed,
        "net": {"channels": config.channels, "hidden": config.hidden},
        "obs_shape": list(obs_shape(game)),
        "action_set": action_set(game),
        "n_actions": len(action_set(game)),
        "train_seconds": round(info["seconds"], 1),
        "train_returns_per_tenth": info["train_returns"],
        "evaluation": {
            "episodes": EVAL_EPISODES,
            "max_steps": EVAL_MAX_STEPS,
            "actions": "sampled from the policy",
            "seed": eval_seed,
        },
        "mean_return": evaluate_returns(net, game, seed=eval_seed),
        "random_return": evaluate_returns(None, game, seed=eval_seed),
        "torch": torch.__version__,
    }
    manifest = read_manifest(teacher_dir)
    manifest[game] = entry
    atomic_write_text(teacher_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry
