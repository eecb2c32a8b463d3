"""Pools of states recorded by running a teacher, and their splits by episode.

The pool steps ``parallel`` environments side by side, so consecutive states of one
episode are near-duplicates. Splitting states at random would put such twins on both
sides of a split; :func:`split_by_episode` instead gives whole episodes to the test,
validation and training sides, so no episode is seen by two of them.
"""

from __future__ import annotations

import numpy as np
import torch

from sobolev_lab.experiments.distillation.envs import action_set, make_env, sample_actions

__all__ = ["as_flat", "record_pool", "split_by_episode"]


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
) -> tuple[np.ndarray, np.ndarray]:
    """Record ``n_states`` states visited by a policy with exploration, with episode ids.

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
        Environments stepped side by side (the pool holds at least this many episodes).
    device : str or torch.device

    Returns
    -------
    states : ndarray of bool, shape (n_states, 10, 10, C)
        In the order visited (environments interleaved step by step).
    episodes : ndarray of int, shape (n_states,)
        The episode each state belongs to: ``0 .. parallel - 1`` for the first episode
        of each environment, then increasing as episodes end and restart.
    """
    if not isinstance(n_states, int) or n_states < 2:
        raise ValueError(f"n_states must be an integer >= 2, got {n_states!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon!r}")
    if not isinstance(parallel, int) or parallel < 1:
        raise ValueError(f"parallel must be a positive integer, got {parallel!r}")
    actions = action_set(game)
    envs = [make_env(game, seed + i) for i in range(parallel)]
    episode = np.arange(parallel)
    next_episode = parallel
    rng = np.random.default_rng(seed)
    states: list[np.ndarray] = []
    ids: list[int] = []
    while len(states) < n_states:
        obs = np.stack([e.state() for e in envs])
        states.extend(obs)
        ids.extend(episode.tolist())
        logits = logits_fn(torch.as_tensor(obs, dtype=torch.float32, device=device))
        a = sample_actions(logits, rng)
        explore = rng.random(parallel) < epsilon
        a = np.where(explore, rng.integers(len(actions), size=parallel), a)
        for i, (env, ai) in enumerate(zip(envs, a, strict=True)):
            _, done = env.act(actions[int(ai)])
            if done:
                env.reset()
                episode[i] = next_episode
                next_episode += 1
    return np.stack(states[:n_states]).astype(bool), np.asarray(ids[:n_states], dtype=np.int64)


def split_by_episode(
    episodes: np.ndarray,
    fraction: float,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of training, validation and test states from disjoint episodes.

    The episodes are shuffled with ``seed`` and handed out whole: to the test side
    until it holds at least ``test_fraction`` of the states, then to the validation
    side until it holds at least ``val_fraction``; the rest are training episodes.
    The training set is the first ``round(fraction * N)`` states of a ``seed``
    permutation of the training episodes' states, so the training sets of one seed
    are nested and all fractions of a seed share the validation and test states.

    Parameters
    ----------
    episodes : ndarray of int, shape (N,)
        Episode id of each state (:func:`record_pool`).
    fraction : float
        Training states as a share of the whole pool, in (0, 1).
    val_fraction, test_fraction : float
        Shares of the pool for validation and test, each in (0, 1), summing below 1.
    seed : int

    Returns
    -------
    train, val, test : ndarray of int

    Raises
    ------
    ValueError
        Bad fractions, or ``fraction`` asking for more states than the training
        episodes hold (whole episodes make the sides slightly larger than asked).
    """
    episodes = np.asarray(episodes)
    if episodes.ndim != 1 or episodes.size < 3:
        raise ValueError(f"episodes must be 1-D with >= 3 states, got shape {episodes.shape}")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction:g}"
        )
    top = 1.0 - val_fraction - test_fraction
    if not 0.0 < fraction <= top:
        raise ValueError(
            f"fraction must lie in (0, 1 - val_fraction - test_fraction] = (0, {top:g}], "
            f"got {fraction!r}"
        )
    n = episodes.size
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(episodes))
    sizes = np.array([np.count_nonzero(episodes == e) for e in ids])
    cum = np.cumsum(sizes)
    n_test_eps = int(np.searchsorted(cum, test_fraction * n)) + 1
    n_val_eps = int(np.searchsorted(cum, (test_fraction + val_fraction) * n)) + 1 - n_test_eps
    n_val_eps = max(1, n_val_eps)  # a long test episode may overshoot into the val share
    if n_test_eps + n_val_eps >= ids.size:
        raise ValueError(
            f"the pool's {ids.size} episodes are too few to give whole episodes to test "
            f"({test_fraction:g}), validation ({val_fraction:g}) and training; record more "
            "episodes (more parallel environments) or lower the fractions"
        )
    side = np.full(n, 2)  # 0 test, 1 validation, 2 training
    side[np.isin(episodes, ids[:n_test_eps])] = 0
    side[np.isin(episodes, ids[n_test_eps : n_test_eps + n_val_eps])] = 1
    candidates = rng.permutation(np.flatnonzero(side == 2))
    n_train = max(1, round(fraction * n))
    if n_train > candidates.size:
        raise ValueError(
            f"fraction {fraction:g} asks for {n_train} training states, but the training "
            f"episodes of seed {seed} hold {candidates.size}; lower fraction or the "
            "validation/test fractions"
        )
    return candidates[:n_train], np.flatnonzero(side == 1), np.flatnonzero(side == 0)


def as_flat(states: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """Bool states (N, 10, 10, C) as float32 vectors (N, 100 C) on ``device``."""
    return torch.as_tensor(states.reshape(len(states), -1), dtype=torch.float32, device=device)
