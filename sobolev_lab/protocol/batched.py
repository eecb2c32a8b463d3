"""Batched trials: one method's (configs x folds x seeds) as ensemble member stacks.

:func:`member_stacks` lays the trials out for :func:`sobolev.ensemble.fit_ensemble`,
one stack per value of the trainer arguments that cannot differ between members (the
learning rate; loss weights and weight decay vary per member); :func:`stack_scores`
reads the per-member held-out errors back into a (seeds, configs, folds) array for
:func:`sobolev_lab.protocol.selection.select_scores`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sobolev._validation import check_nonnegative_int
from sobolev_lab.protocol.selection import Split, check_splits

__all__ = [
    "Member",
    "MemberStack",
    "heldout_mse",
    "member_stacks",
    "member_weights",
    "refit_stacks",
    "stack_scores",
]


# -- batched trials for the ensemble trainer ------------------------------------------
@dataclasses.dataclass(frozen=True)
class Member:
    """One trial: candidate ``config``, split ``fold``, data and initial weights of ``seed``."""

    config: int
    fold: int
    seed: int


@dataclasses.dataclass
class MemberStack:
    """The inputs of one :func:`sobolev.ensemble.fit_ensemble` call.

    Attributes
    ----------
    shared : dict
        The values of ``shared_keys`` common to the stack: ``fit_ensemble`` arguments
        (``lr``, ``schedule``, ...) go to it as keywords, architecture keys
        (``activation``, ``hidden``) to ``MLPEnsemble.from_seeds``.
    members : tuple of Member
        Member ``e`` of the ensemble; build it with
        ``MLPEnsemble.from_seeds(..., seeds=[m.seed for m in members])``.
    x, y : ndarray, shapes (E, N, d) and (E, N)
        Each member's fold-training data.
    dy : ndarray, shape (E, N, d), or None
        Derivative targets (None when no member uses them).
    weights : ndarray, shape (E, 2)
        ``(w0, w1)`` per member (:func:`member_weights`).
    weight_decay : ndarray, shape (E,)
        Each member's config's ``weight_decay`` (0 when absent): pass it to
        ``fit_ensemble(weight_decay=...)``, which decays each member by its own value.
    x_val, y_val : ndarray, shapes (E, M, d) and (E, M), or None
        Each member's held-out points: pass ``validation=(x_val, y_val)`` to
        ``fit_ensemble`` for early stopping on the held-out value MSE (its
        ``best_val`` is then :func:`heldout_mse` of the restored members). None for
        :func:`refit_stacks`.
    """

    shared: dict[str, Any]
    members: tuple[Member, ...]
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray | None
    weights: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    weight_decay: np.ndarray | None = None

    @property
    def seeds(self) -> list[int]:
        return [m.seed for m in self.members]


def member_weights(
    config: Mapping[str, Any], x: np.ndarray, y: np.ndarray, dy, dtype: Any = None
) -> tuple:
    """Loss weights ``(w0, w1)`` of ``config["derivative_weight"]`` on one training set.

    Absent or 0 is value-only training ``(1, 0)``; a number ``w`` is ``(1, w)``;
    ``"auto"`` is :class:`sobolev.SobolevLoss`'s balance computed on this fold's
    training targets (``x`` (N, d), ``y`` (N,), ``dy`` (N, d)) for training in
    ``dtype`` (torch dtype; default float64), where a term too small for that precision
    counts as zero (:meth:`sobolev.SobolevLoss.resolve_weights`).
    """
    w = config.get("derivative_weight", 0.0)
    if w == "auto":
        import torch

        from sobolev import SobolevLoss, Target

        if dy is None:
            raise ValueError('derivative_weight "auto" needs derivative targets dy')
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        return SobolevLoss(order=1, weights="auto").resolve_weights(
            Target.from_arrays(y, dy), xt, dtype
        )
    if isinstance(w, bool) or not isinstance(w, int | float) or not (math.isfinite(w) and w >= 0):
        raise ValueError(f'derivative_weight must be a number >= 0 or "auto", got {w!r}')
    if w > 0 and dy is None:
        raise ValueError(f"derivative_weight {w} > 0 needs derivative targets dy")
    return (1.0, float(w))


def member_stacks(
    x: Any,
    y: Any,
    dy: Any,
    configs: Sequence[dict[str, Any]],
    splits: Sequence[Sequence[Split]],
    seeds: Sequence[int],
    *,
    shared_keys: Sequence[str] = ("lr",),
    dtype: Any = None,
) -> list[MemberStack]:
    """Lay the (configs x folds x seeds) trials of one method out as ensemble stacks.

    Parameters
    ----------
    x, y : array, shapes (S, n, d) and (S, n)
        The training set of each seed (seed ``seeds[s]`` owns ``x[s]``).
    dy : array (S, n, d), callable or None
        Derivative targets. A callable ``dy(s, train_idx) -> (len(train_idx), d)`` is
        evaluated per seed index and fold, so targets estimated from values (e.g.
        :func:`sobolev.estimate.estimate_gradients`) use the fold's training points
        only and never see its held-out ones.
    configs : sequence of dict
        Candidates; keys in ``shared_keys`` select the stack, ``derivative_weight`` the
        member's loss weights, ``weight_decay`` its L2 decay (default 0), other keys are
        the caller's.
    splits : sequence over seeds of sequence of (train_idx, val_idx)
        ``splits[s]`` splits seed ``s``'s ``n`` points (e.g. ``kfold(n, k, seed)``);
        all training parts have one size, and all held-out parts another.
    seeds : sequence of int
        Initial-weight seeds, aligned with the first axis of ``x``.
    shared_keys : sequence of str
        Config keys that cannot differ inside one ensemble: trainer arguments taken
        once per call (``lr``; ``weight_decay`` is per member) and the
        architecture (add ``"activation"`` when it is tuned).
    dtype : torch.dtype, optional
        The training precision, for ``"auto"`` weights (:func:`member_weights`).

    Returns
    -------
    list of MemberStack
        One per distinct value of ``shared_keys``, members ordered config, fold, seed.
    """
    x, y, seeds = _check_data(x, y, seeds)
    if len(splits) != len(seeds):
        raise ValueError(f"splits must hold one list of splits per seed ({len(seeds)})")
    splits = [check_splits(sp, f"splits[{s}]") for s, sp in enumerate(splits)]
    n_folds = {len(sp) for sp in splits}
    sizes = {(tr.size, va.size) for sp in splits for tr, va in sp}
    if len(n_folds) != 1 or len(sizes) != 1:
        raise ValueError(
            "every seed needs the same number of splits with one train and one held-out "
            f"size (members share N), got {sorted(n_folds)} splits and sizes {sorted(sizes)}; "
            "use kfold with k dividing n"
        )
    targets = _targets(dy, x)
    _check_shared(configs, shared_keys)
    trials = [
        (c, f, s, *splits[s][f])
        for c in range(len(configs))
        for f in range(next(iter(n_folds)))
        for s in range(len(seeds))
    ]
    return _stacks(x, y, targets, configs, trials, seeds, shared_keys, dtype)


def refit_stacks(
    x: Any,
    y: Any,
    dy: Any,
    configs: Sequence[dict[str, Any]],
    chosen: Sequence[int],
    seeds: Sequence[int],
    *,
    shared_keys: Sequence[str] = ("lr",),
    dtype: Any = None,
) -> list[MemberStack]:
    """Stacks for the final fits: each seed's chosen config on all its ``n`` points.

    Parameters
    ----------
    x, y, dy, configs, seeds, shared_keys, dtype
        As in :func:`member_stacks` (a callable ``dy`` gets ``arange(n)``).
    chosen : sequence of int
        Per seed, the index of its chosen config (``Selection.index``).

    Returns
    -------
    list of MemberStack
        Members have ``fold = -1``; ``x_val`` and ``y_val`` are None (there is nothing
        left to hold out; fix the step budget from the cross-validation, e.g. the
        chosen config's ``best_step`` gathered with :func:`stack_scores`).
    """
    x, y, seeds = _check_data(x, y, seeds)
    chosen = [check_nonnegative_int(c, "chosen[i]") for c in chosen]
    if len(chosen) != len(seeds) or any(c >= len(configs) for c in chosen):
        raise ValueError(
            f"chosen must hold one config index below {len(configs)} per seed ({len(seeds)})"
        )
    _check_shared(configs, shared_keys)
    every = np.arange(x.shape[1])
    trials = [(c, -1, s, every, None) for s, c in enumerate(chosen)]
    return _stacks(x, y, _targets(dy, x), configs, trials, seeds, shared_keys, dtype)


def _check_data(x, y, seeds):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    seeds = [check_nonnegative_int(s, "seeds[i]") for s in seeds]
    if x.ndim != 3 or y.shape != x.shape[:2] or x.shape[0] != len(seeds):
        raise ValueError(
            f"x must be (S, n, d) and y (S, n) with S = len(seeds) = {len(seeds)}, got "
            f"{x.shape} and {y.shape}"
        )
    return x, y, seeds


def _check_shared(configs, shared_keys) -> None:
    for c, config in enumerate(configs):
        missing = [k for k in shared_keys if k not in config]
        if missing:
            raise ValueError(f"configs[{c}] lacks the shared trainer key(s) {missing}")


def _targets(dy, x):
    """``dy`` as a callable ``(seed index, train_idx) -> (len(train_idx), d)``, or None."""
    if dy is None or callable(dy):
        return dy
    dy_arr = np.asarray(dy, dtype=np.float64)
    if dy_arr.shape != x.shape:
        raise ValueError(f"dy must have shape {x.shape} like x, got {dy_arr.shape}")
    return lambda s, idx: dy_arr[s, idx]


def _stacks(x, y, targets, configs, trials, seeds, shared_keys, dtype) -> list[MemberStack]:
    """Group ``trials`` (config, fold, seed index, train_idx, val_idx) by shared key."""
    groups: dict[str, list] = {}
    for trial in trials:
        config = configs[trial[0]]
        key = json.dumps({k: config[k] for k in shared_keys}, sort_keys=True)
        groups.setdefault(key, []).append(trial)
    stacks = []
    for key, group in groups.items():
        members, xs, ys, dys, ws, xv, yv, wd = [], [], [], [], [], [], [], []
        for c, f, s, tr, va in group:
            g = None if targets is None else np.asarray(targets(s, tr), dtype=np.float64)
            if g is not None and g.shape != (tr.size, x.shape[2]):
                raise ValueError(f"dy({s}, train_idx) must have shape {(tr.size, x.shape[2])}")
            ws.append(member_weights(configs[c], x[s, tr], y[s, tr], g, dtype))
            wd.append(_weight_decay(configs[c]))
            members.append(Member(c, f, seeds[s]))
            xs.append(x[s, tr])
            ys.append(y[s, tr])
            dys.append(np.zeros_like(x[s, tr]) if g is None else g)
            if va is not None:
                xv.append(x[s, va])
                yv.append(y[s, va])
        weights = np.asarray(ws, dtype=np.float64)
        stacks.append(
            MemberStack(
                shared=json.loads(key),
                members=tuple(members),
                x=np.stack(xs),
                y=np.stack(ys),
                dy=np.stack(dys) if (weights[:, 1] > 0).any() else None,
                weights=weights,
                x_val=np.stack(xv) if xv else None,
                y_val=np.stack(yv) if yv else None,
                weight_decay=np.asarray(wd, dtype=np.float64),
            )
        )
    return stacks


def _weight_decay(config: Mapping[str, Any]) -> float:
    w = config.get("weight_decay", 0.0)
    if isinstance(w, bool) or not isinstance(w, int | float) or not (math.isfinite(w) and w >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {w!r}")
    return float(w)


def heldout_mse(stack: MemberStack, y_pred: Any) -> np.ndarray:
    """Per-member value MSE on the held-out points; ``y_pred`` (E, M) or (E, M, 1).

    Non-finite predictions give an inf error (the trial diverged) rather than NaN.
    """
    p = np.asarray(y_pred, dtype=np.float64)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[..., 0]
    if p.shape != stack.y_val.shape:
        raise ValueError(f"y_pred must have shape {stack.y_val.shape}, got {p.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        err = ((p - stack.y_val) ** 2).mean(1)
    return np.where(np.isfinite(err), err, np.inf)


def stack_scores(
    stacks: Sequence[MemberStack], errors: Sequence[Any], n_configs: int, seeds: Sequence[int]
) -> np.ndarray:
    """Gather one number per cross-validation member into an array of shape (S, C, K).

    ``errors[i]`` holds stack ``i``'s numbers, shape (E_i,): held-out errors (from
    :func:`heldout_mse`, or the early-stopping history's ``best_val``; NaN becomes inf,
    a diverged trial) or any other per-member number, such as ``best_step``. Every
    (seed, config, fold) must be filled exactly once.
    """
    seeds = list(seeds)
    if any(m.fold < 0 for st in stacks for m in st.members):
        raise ValueError("stack_scores gathers cross-validation stacks, not refit_stacks")
    n_folds = 1 + max(m.fold for st in stacks for m in st.members)
    out = np.full((len(seeds), n_configs, n_folds), np.nan)
    for st, err in zip(stacks, errors, strict=True):
        err = np.asarray(err, dtype=np.float64)
        if err.shape != (len(st.members),):
            raise ValueError(f"errors must have shape ({len(st.members)},), got {err.shape}")
        for m, e in zip(st.members, err, strict=True):
            out[seeds.index(m.seed), m.config, m.fold] = e if not math.isnan(e) else np.inf
    if np.isnan(out).any():
        raise ValueError("some (seed, config, fold) trials have no error; pass every stack")
    return out
