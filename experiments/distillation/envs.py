"""MinAtar games: names, action sets, seeding, and playing episodes with a policy.

Observations are MinAtar's ``10 x 10 x C`` boolean frames, used as float tensors in
the same ``(H, W, C)`` layout; flattened, a state is a vector of ``d = 100 C`` inputs.
Policies act on each game's *minimal* action set (3 to 6 actions), mapped to
MinAtar's six action indices by :func:`action_set`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "GAMES",
    "DistillationError",
    "action_set",
    "check_game",
    "make_env",
    "obs_shape",
    "play",
    "require_minatar",
    "sample_actions",
]

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


class DistillationError(ValueError):
    """A problem the user can fix (unknown game, missing extra or teacher); one line."""


def require_minatar() -> Any:
    """Import MinAtar or raise :class:`DistillationError` saying how to install it."""
    try:
        import minatar
    except ImportError as exc:
        raise DistillationError(
            "MinAtar is not installed; install the rl extra: "
            "pip install 'sobolev-training[rl]' (or pip install minatar)"
        ) from exc
    return minatar


def check_game(game: str) -> str:
    """Return ``game`` if it is a MinAtar game, else raise naming the valid ones."""
    if game not in GAMES:
        raise DistillationError(f"unknown game {game!r}: expected one of {', '.join(GAMES)}")
    return game


def make_env(game: str, seed: int):
    """A seeded MinAtar environment (sticky actions 0.1, difficulty ramping on)."""
    minatar = require_minatar()
    env = minatar.Environment(check_game(game))
    env.seed(int(seed))
    env.reset()
    return env


def action_set(game: str) -> list[int]:
    """MinAtar action indices of the game's minimal action set."""
    env = make_env(game, 0)
    return [int(a) for a in env.minimal_action_set()]


def obs_shape(game: str) -> tuple[int, int, int]:
    """``(10, 10, C)`` for the game."""
    return tuple(int(s) for s in make_env(game, 0).state_shape())


def sample_actions(logits: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``logits`` (B, A), sampled from softmax(logits) by ``rng``."""
    p = torch.softmax(logits.double(), 1).cpu().numpy()
    a = (rng.random((len(p), 1)) > np.cumsum(p, 1)).sum(1)
    return np.minimum(a, p.shape[1] - 1)


Policy = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def play(
    logits_fn: Policy | None,
    game: str,
    *,
    episodes: int,
    seed: int,
    max_steps: int = 2500,
    greedy: bool = False,
    epsilon: float = 0.0,
    device: str | torch.device = "cpu",
    record: list[np.ndarray] | None = None,
    record_limit: int | None = None,
) -> np.ndarray:
    """Play ``episodes`` episodes in parallel and return their undiscounted returns.

    Parameters
    ----------
    logits_fn : callable or None
        Maps float observations (B, 10, 10, C) to action logits (B, A) over the
        minimal action set; None plays uniformly at random.
    game : str
    episodes : int
        Episodes, played side by side (one environment each, seeds ``seed + i``).
    seed : int
        Seeds the environments and the action sampling.
    max_steps : int
        Cap on an episode's length (Freeway ends at 2500 by itself).
    greedy : bool
        Take the argmax action instead of sampling from the policy.
    epsilon : float
        Probability of a uniformly random action instead of the policy's.
    device : str or torch.device
        Where ``logits_fn`` runs.
    record : list, optional
        If given, every observed state (10, 10, C) bool is appended to it.
    record_limit : int, optional
        Stop all episodes once ``record`` holds this many states.

    Returns
    -------
    ndarray, shape (episodes,)
        Returns (episodes cut by ``max_steps`` or ``record_limit`` count as they stand).
    """
    actions = action_set(game)
    envs = [make_env(game, seed + i) for i in range(episodes)]
    rng = np.random.default_rng(seed)
    returns = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    for _ in range(max_steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        obs = np.stack([envs[i].state() for i in idx])
        if record is not None:
            record.extend(obs)
            if record_limit is not None and len(record) >= record_limit:
                del record[record_limit:]
                break
        if logits_fn is None:
            a = rng.integers(len(actions), size=idx.size)
        else:
            logits = logits_fn(torch.as_tensor(obs, dtype=torch.float32, device=device))
            a = logits.argmax(1).cpu().numpy() if greedy else sample_actions(logits, rng)
        if epsilon > 0:
            explore = rng.random(idx.size) < epsilon
            a = np.where(explore, rng.integers(len(actions), size=idx.size), a)
        for j, i in enumerate(idx):
            r, done = envs[i].act(actions[int(a[j])])
            returns[i] += r
            if done:
                alive[i] = False
    return returns
