"""Pools of states recorded by running a teacher, and their train/test splits."""

from __future__ import annotations

import numpy as np
import torch

from sobolev_lab.experiments.distillation.envs import action_set, make_env, sample_actions

__all__ = ["as_flat", "record_pool", "split_pool"]


@torch.no_grad()
def record_pool(
    logits_fn,
    game: str,
    n_states: int,
    *,
    seed: int,
    epsilon: float = 0.05,
    parallel: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Record ``n_states`` states visited by a policy with exploration.

    ``parallel`` environments (seeds ``seed + i``) are stepped side by side and reset
    when an episode ends. Actions are sampled from the policy (not its argmax) and
    replaced by a uniformly random action with probability ``epsilon``, so the pool
    also covers states slightly off the teacher's own trajectories.

    Parameters
    ----------
    logits_fn : callable
        Observations (B, 10, 10, C) float to logits (B, A).
    game : str
    n_states : int
    seed : int
    epsilon : float
        Probability of a random action, in [0, 1].
    parallel : int
        Environments stepped side by side.
    device : str or torch.device

    Returns
    -------
    ndarray of bool, shape (n_states, 10, 10, C)
        In the order visited (environments interleaved step by step).
    """
    if not isinstance(n_states, int) or n_states < 2:
        raise ValueError(f"n_states must be an integer >= 2, got {n_states!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon!r}")
    actions = action_set(game)
    envs = [make_env(game, seed + i) for i in range(parallel)]
    rng = np.random.default_rng(seed)
    states: list[np.ndarray] = []
    while len(states) < n_states:
        obs = np.stack([e.state() for e in envs])
        states.extend(obs)
        logits = logits_fn(torch.as_tensor(obs, dtype=torch.float32, device=device))
        a = sample_actions(logits, rng)
        explore = rng.random(parallel) < epsilon
        a = np.where(explore, rng.integers(len(actions), size=parallel), a)
        for env, ai in zip(envs, a, strict=True):
            _, done = env.act(actions[int(ai)])
            if done:
                env.reset()
    return np.stack(states[:n_states]).astype(bool)


def split_pool(
    n_states: int, fraction: float, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a training subset and a disjoint held-out test set.

    The pool is shuffled with ``seed``; the test set is its last ``test_fraction``
    share and the training set its first ``fraction`` share, so every training
    fraction of one seed is scored on the same test states.

    Returns
    -------
    train, test : ndarray of int
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if not 0.0 < fraction <= 1.0 - test_fraction:
        raise ValueError(
            f"fraction must lie in (0, 1 - test_fraction] = (0, {1 - test_fraction:g}], "
            f"got {fraction!r}"
        )
    perm = np.random.default_rng(seed).permutation(n_states)
    n_test = round(test_fraction * n_states)
    n_train = max(1, round(fraction * n_states))
    return perm[:n_train], perm[n_states - n_test :]


def as_flat(states: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """Bool states (N, 10, 10, C) as float32 vectors (N, 100 C) on ``device``."""
    return torch.as_tensor(states.reshape(len(states), -1), dtype=torch.float32, device=device)
