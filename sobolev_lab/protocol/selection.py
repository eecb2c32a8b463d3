"""Selection on held-out training data: splits, equal budgets, choosing a configuration.

The selection routines take indices into the training set and a scorer; test data
never enters their signatures. The score is the quantity the table reports (value
error on held-out points, for every method).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sobolev._validation import check_nonnegative_int, check_positive_int

__all__ = [
    "Budget",
    "Selection",
    "Split",
    "check_splits",
    "grid",
    "kfold",
    "select",
    "select_scores",
    "validation_split",
]

Split = tuple[np.ndarray, np.ndarray]


# -- splits ---------------------------------------------------------------------------
def kfold(n: int, k: int, seed: int) -> list[Split]:
    """K-fold splits of ``n`` training points (a seeded shuffle, then ``k`` near-equal folds).

    Parameters
    ----------
    n : int
        Number of training points (indices ``0 .. n-1``).
    k : int
        Number of folds, ``2 <= k <= n``. Folds have equal sizes when ``k`` divides ``n``
        (needed by :func:`member_stacks`, whose members share one training size).
    seed : int
        Seeds the shuffle (``numpy.random.default_rng(seed)``).

    Returns
    -------
    list of (train_idx, val_idx)
        ``k`` pairs of sorted int arrays; every index is held out exactly once.
    """
    n = check_positive_int(n, "n", minimum=2)
    k = check_positive_int(k, "k", minimum=2)
    if k > n:
        raise ValueError(f"k must be at most n = {n}, got {k}")
    order = np.random.default_rng(check_nonnegative_int(seed, "seed")).permutation(n)
    folds = np.array_split(order, k)
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i])) for i in range(k)
    ]


def validation_split(n: int, fraction: float, seed: int) -> Split:
    """One seeded split of ``n`` training points into train and validation indices.

    Parameters
    ----------
    n : int
        Number of training points, at least 2.
    fraction : float
        Share held out, in (0, 1); ``round(fraction * n)`` points, at least 1 and at
        most ``n - 1``.
    seed : int

    Returns
    -------
    (train_idx, val_idx) : pair of sorted int arrays
    """
    n = check_positive_int(n, "n", minimum=2)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not (0.0 < fraction < 1.0)
    ):
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    n_val = min(max(round(fraction * n), 1), n - 1)
    order = np.random.default_rng(check_nonnegative_int(seed, "seed")).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_splits(splits: Sequence[Split], name: str = "splits") -> list[Split]:
    out = []
    if not splits:
        raise ValueError(f"{name} must hold at least one (train_idx, val_idx) pair")
    for i, pair in enumerate(splits):
        tr, va = (np.asarray(a) for a in pair)
        if tr.ndim != 1 or va.ndim != 1 or not tr.size or not va.size:
            raise ValueError(f"{name}[{i}] must be two non-empty 1-D index arrays")
        if not (np.issubdtype(tr.dtype, np.integer) and np.issubdtype(va.dtype, np.integer)):
            raise ValueError(f"{name}[{i}] must hold integer indices, got {tr.dtype}/{va.dtype}")
        if np.intersect1d(tr, va).size:
            raise ValueError(f"{name}[{i}]: train and validation indices overlap")
        out.append((tr, va))
    return out


# -- candidate configurations and budgets ---------------------------------------------
def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """All combinations of the given values, the first axis varying slowest.

    ``grid(lr=[1e-3, 1e-2], derivative_weight=[1.0, "auto"])`` gives 4 dicts.
    """
    if not axes:
        raise ValueError("grid needs at least one axis, e.g. grid(lr=[1e-3, 1e-2])")
    for key, values in axes.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"axis {key!r} must be a non-empty list of values, got {values!r}")
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]


@dataclasses.dataclass(frozen=True)
class Budget:
    """The number of trial configurations every method gets.

    Parameters
    ----------
    trials : int
        Candidates per method.
    """

    trials: int

    def __post_init__(self) -> None:
        check_positive_int(self.trials, "trials")

    def check(self, candidates: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, list[dict]]:
        """Validate one candidate list per method: ``trials`` distinct JSON-able dicts each.

        Returns
        -------
        dict of str to list of dict
            The candidates, copied.
        """
        out = {}
        for method, configs in candidates.items():
            configs = [dict(c) for c in configs]
            if len(configs) != self.trials:
                raise ValueError(
                    f"method {method!r} has {len(configs)} candidate configurations; the "
                    f"budget gives every method exactly {self.trials}"
                )
            keys = [json.dumps(c, sort_keys=True) for c in configs]
            if len(set(keys)) != len(keys):
                raise ValueError(f"method {method!r} repeats a candidate configuration")
            out[method] = configs
        return out

    def subsample(self, configs: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
        """``trials`` of ``configs`` drawn without replacement (random search), in grid order.

        A list no longer than the budget is refused rather than silently padded.
        """
        configs = list(configs)
        if len(configs) < self.trials:
            raise ValueError(
                f"configs holds {len(configs)} candidates, fewer than the budget's {self.trials}"
            )
        rng = np.random.default_rng(check_nonnegative_int(seed, "seed"))
        keep = np.sort(rng.choice(len(configs), self.trials, replace=False))
        return [dict(configs[i]) for i in keep]


# -- selection ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Selection:
    """The outcome of one selection: chosen configuration and every trial's scores.

    Attributes
    ----------
    configs : tuple of dict
        The candidates, in order.
    fold_scores : ndarray, shape (C, K)
        Held-out error of each candidate on each split (inf where a trial diverged).
    scores : ndarray, shape (C,)
        Mean over splits; inf if any split of the candidate diverged.
    index : int
        The chosen candidate: the lowest mean score (the first one on ties).
    metric : str
        What the scores measure.
    """

    configs: tuple[dict[str, Any], ...]
    fold_scores: np.ndarray
    scores: np.ndarray
    index: int
    metric: str

    @property
    def chosen(self) -> dict[str, Any]:
        return dict(self.configs[self.index])

    def record(self) -> dict[str, Any]:
        """JSON-serialisable summary for the cell payload (the chosen hyperparameters)."""
        return {
            "chosen": self.chosen,
            "index": self.index,
            "metric": self.metric,
            "cv_score": float(self.scores[self.index]),
            "scores": [float(s) if math.isfinite(s) else None for s in self.scores],
            "n_trials": len(self.configs),
            "n_splits": int(self.fold_scores.shape[1]),
            "n_diverged": int((~np.isfinite(self.fold_scores)).any(1).sum()),
        }


def select_scores(
    configs: Sequence[dict[str, Any]], fold_scores: Any, *, metric: str = "value_mse"
) -> Selection:
    """Choose among ``configs`` from their held-out errors, shape (C, K).

    Non-finite errors (a diverged trial) rank last; if every candidate diverged, a
    ``FloatingPointError`` is raised instead of choosing at random.
    """
    configs = tuple(dict(c) for c in configs)
    s = np.array(fold_scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != len(configs) or s.shape[1] < 1:
        raise ValueError(
            f"fold_scores must have shape (C, K) with C = {len(configs)} configs, got {s.shape}"
        )
    if (s[np.isfinite(s)] < 0).any():
        raise ValueError("fold_scores must be errors >= 0 (lower is better)")
    s[~np.isfinite(s)] = np.inf
    mean = s.mean(1)
    if not np.isfinite(mean).any():
        raise FloatingPointError(f"every one of the {len(configs)} candidates diverged")
    return Selection(configs, s, mean, int(np.argmin(mean)), str(metric))


def select(
    configs: Sequence[dict[str, Any]],
    score: Callable[[dict[str, Any], np.ndarray, np.ndarray], float],
    splits: Sequence[Split],
    *,
    metric: str = "value_mse",
) -> Selection:
    """Score every candidate on every split of the training data and choose the best.

    Parameters
    ----------
    configs : sequence of dict
        The candidates (one method's budget, see :class:`Budget`).
    score : callable
        ``score(config, train_idx, val_idx) -> float``: train on ``train_idx`` of the
        training set, return the held-out error on ``val_idx`` (lower is better). It
        closes over the training data only; there is no argument for test data.
    splits : sequence of (train_idx, val_idx)
        From :func:`kfold` or ``[validation_split(...)]``.
    metric : str
        Name of the score, stored in the record.

    Returns
    -------
    Selection
    """
    splits = check_splits(splits)
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one candidate configuration")
    scores = np.array(
        [[float(score(dict(c), tr, va)) for tr, va in splits] for c in configs], dtype=np.float64
    )
    return select_scores(configs, scores, metric=metric)
