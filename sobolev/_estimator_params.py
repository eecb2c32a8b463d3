"""Parameter checks and data-dependent defaults of :class:`sobolev.sklearn.SobolevRegressor`.

Kept apart from the estimator class so that the class reads as the scikit-learn API
(fit, predict, attributes) and this module as the rules behind its parameters.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data
from torch import nn

from sobolev._training import SCHEDULES
from sobolev._validation import check_bool, check_positive_int
from sobolev.loss import SobolevLoss
from sobolev.models import ACTIVATIONS
from sobolev.standardize import Standardizer
from sobolev.target import Target

DTYPES = {"float32": torch.float32, "float64": torch.float64}
AUTO_DTYPE = "auto"
DERIVATIVES = ("auto", "given", "estimate", "none")

# Automatic minibatches: full batch up to FULL_BATCH_MAX samples; above it about
# BATCHES_PER_EPOCH minibatches per epoch (Huge & Savine's recipe), never smaller than
# FULL_BATCH_MAX, so a step's cost stays bounded as N grows.
FULL_BATCH_MAX = 256
BATCHES_PER_EPOCH = 16
# max_iter="auto": enough epochs for AUTO_STEPS optimiser steps (benchmarks/README.md).
AUTO_STEPS = 2000
# Early stopping evaluates every epoch, but at most this many times over the budget.
EVALUATIONS = 100
# early_stopping="auto" holds out data when the held-out part has at least MIN_HELD_OUT
# samples (N >= 200 at validation_fraction=0.1) and N < EARLY_STOPPING_BELOW. Fewer
# held-out samples cannot rank the evaluations (n = 20, 100 fits got worse); at
# n = 200 full training over-fits functions whose gradients the data do not resolve
# (Ackley, Levy: worse than predicting the mean). From 2048 samples the AUTO_STEPS
# budget is at most 250 epochs, where on noisy baskets the held-out value error chose
# a worse epoch than the annealed end of the budget (benchmarks/README.md).
MIN_HELD_OUT = 20
EARLY_STOPPING_BELOW = 2048
# Early stopping waits max(n_iter_no_change, PATIENCE_GROWTH * k) evaluations after the
# last improvement at evaluation k: exact-data fits that improve late keep training,
# while noisy fits that peak early stop soon (benchmarks/README.md).
PATIENCE_GROWTH = 1.0
# With weights="differential", early stopping scores the held-out points on half their
# value MSE and half the mean over inputs of lambda_j^2 times the derivative MSE. On
# exact data the derivatives separate a plateau from the end of learning where the
# values alone stop too early; with alpha = 1 / (1 + d), as in training, the noisy
# pathwise derivatives of a 20-asset basket outweighed the values (benchmarks/README.md).
HELD_OUT_VALUE_SHARE = 0.5
# weights="differential" scales input j's derivative residual by lambda_j proportional to
# rms(dv_j) ** -LAMBDA_POWER, normalised so that the mean over inputs of
# lambda_j^2 rms(dv_j)^2 is 1 as in Huge & Savine. Their power 1 gives every input an
# equal share of the loss; on exact data where a few inputs dominate f (Dixon-Price,
# d = 8) that spends the fit on the others (3-5x worse than 1/2), while inputs of equal
# scale get their lambda_j = 1 / rms at any power (benchmarks/README.md).
LAMBDA_POWER = 0.5


def check_hidden(value: Any) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints."""
    hidden = (value,) if isinstance(value, int | np.integer) else value
    try:
        hidden = tuple(int(h) if isinstance(h, np.integer) else h for h in hidden)
    except TypeError:
        hidden = None
    if hidden is None or any(
        isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden
    ):
        raise ValueError(
            f"hidden_layer_sizes must be a positive integer or a sequence of positive "
            f"integers, got {value!r}"
        )
    return hidden


def _check_real(value: Any, name: str, *, low: float, low_open: bool, high: float = math.inf):
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value < high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = f" and < {high}" if math.isfinite(high) else ""
        raise ValueError(f"{name} must be a finite number {bound}{upper}, got {value!r}")
    return float(value)


def check_params(est) -> dict[str, Any]:
    """Validate every constructor parameter of ``est``; return the resolved values."""
    out: dict[str, Any] = {"hidden": check_hidden(est.hidden_layer_sizes)}
    if est.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {est.activation!r}")
    if est.derivatives not in DERIVATIVES:
        raise ValueError(f"derivatives must be one of {DERIVATIVES}, got {est.derivatives!r}")
    if isinstance(est.order, bool) or est.order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {est.order!r}")
    if est.order == 2 and est.derivatives not in ("given", "auto"):
        raise ValueError(
            'order=2 needs derivatives="given" or "auto" with d2y (second derivatives are '
            "not estimated)"
        )
    weights = est.weights
    if not (isinstance(weights, str) and weights == "differential"):
        # SobolevLoss validates the weights' values and length.
        SobolevLoss(order=max(int(est.order), 1), weights=weights)
    elif est.order == 2:
        raise ValueError('weights="differential" is defined for order 1 only, got order=2')
    out["alpha"] = _check_real(est.alpha, "alpha", low=0.0, low_open=False)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        check_positive_int(est.batch_size, "batch_size")
    out["lr"] = _check_real(est.learning_rate_init, "learning_rate_init", low=0.0, low_open=True)
    if not (isinstance(est.max_iter, str) and est.max_iter == "auto"):
        check_positive_int(est.max_iter, "max_iter")
    out["tol"] = _check_real(est.tol, "tol", low=0.0, low_open=False)
    check_positive_int(est.n_iter_no_change, "n_iter_no_change")
    check_bool(est.warm_start, "warm_start")
    check_bool(est.shuffle, "shuffle")
    es = est.early_stopping
    if not (isinstance(es, bool | np.bool_) or (isinstance(es, str) and es == "auto")):
        raise ValueError(f'early_stopping must be True, False or "auto", got {es!r}')
    _check_real(est.validation_fraction, "validation_fraction", low=0.0, low_open=True, high=1.0)
    if est.projections is not None:
        check_positive_int(est.projections, "projections")
    if est.side not in ("input", "output"):
        raise ValueError(f'side must be "input" or "output", got {est.side!r}')
    if est.n_neighbors is not None:
        check_positive_int(est.n_neighbors, "n_neighbors")
    if est.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {est.schedule!r}")
    if est.dtype not in (AUTO_DTYPE, *DTYPES):
        raise ValueError(f"dtype must be one of {(AUTO_DTYPE, *DTYPES)}, got {est.dtype!r}")
    try:
        out["device"] = torch.device(est.device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f'device must name a torch device such as "cpu", got {est.device!r}'
        ) from None
    return out


def resolve_batch_size(batch_size: Any, n: int) -> int:
    """The minibatch size for ``n`` training samples (``"auto"``: see module constants)."""
    if isinstance(batch_size, str):
        if n <= FULL_BATCH_MAX:
            return n
        return max(FULL_BATCH_MAX, math.ceil(n / BATCHES_PER_EPOCH))
    return min(int(batch_size), n)


def held_out_size(n: int, fraction: float) -> int:
    """Samples :func:`split` holds out of ``n``: at least one on each side."""
    return min(max(1, round(fraction * n)), n - 1)


def resolve_early_stopping(early_stopping: Any, n: int, fraction: float) -> bool:
    """``"auto"``: hold out samples only when :func:`held_out_size` is at least
    :data:`MIN_HELD_OUT` and n < :data:`EARLY_STOPPING_BELOW` (see there)."""
    if isinstance(early_stopping, str):
        return held_out_size(n, fraction) >= MIN_HELD_OUT and n < EARLY_STOPPING_BELOW
    return bool(early_stopping)


def held_out_metric(weights: Any, order: int, d: int) -> str | SobolevLoss:
    """Early stopping's score: a :class:`SobolevLoss` for ``weights="differential"``
    with derivatives (see :data:`HELD_OUT_VALUE_SHARE`), else ``"values"``."""
    if order == 1 and isinstance(weights, str) and weights == "differential":
        share = HELD_OUT_VALUE_SHARE
        return SobolevLoss(1, weights=(share, (1.0 - share) / d))
    return "values"


def held_out_baseline(metric: str | SobolevLoss, target: Target) -> float:
    """``metric`` of the constant prediction at the held-out mean, with zero derivatives:
    the denominator of ``validation_scores_`` (for ``"values"``, the R^2).

    Parameters
    ----------
    metric : "values" or SobolevLoss
    target : Target
        The held-out target as trained: standardised values and derivative labels
        (scaled by ``lambda``), with any sample weights. Like the metric, the
        SobolevLoss score is a weighted mean and the value MSE a plain one.
    """
    yv = target.y.double().cpu().numpy()
    if isinstance(metric, str):
        base = float(((yv - yv.mean(0)) ** 2).sum(1).mean())
    else:
        w = target.sample_weight
        w = None if w is None else w.double().cpu().numpy()
        p = np.full(len(yv), 1.0 / len(yv)) if w is None or w.sum() <= 0 else w / w.sum()
        dv = target.dy.double().cpu().numpy()
        w0, w1 = metric.weights
        values = ((yv - p @ yv) ** 2).sum(1)
        base = float(p @ (w0 * values + w1 * (dv**2).sum((1, 2))))
    return base if base > 0 else 1.0


def resolve_dtype(dtype: str, n_train: int, batch: int) -> torch.dtype:
    """``"auto"``: float64 for full-batch training, where it costs about the same as
    float32 (small batches are overhead-bound), float32 for minibatches."""
    if dtype == AUTO_DTYPE:
        return torch.float64 if batch >= n_train else torch.float32
    return DTYPES[dtype]


def resolve_epochs(max_iter: Any, steps_per_epoch: int) -> int:
    """Epochs to train (``"auto"``: enough for :data:`AUTO_STEPS` steps)."""
    if isinstance(max_iter, str):
        return math.ceil(AUTO_STEPS / steps_per_epoch)
    return int(max_iter)


def weighted_standardizer(X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> Standardizer:
    """:class:`Standardizer` from (weighted) means and standard deviations of X and Y.

    With integer weights this equals the plain standardisation of the repeated rows,
    which scikit-learn's sample-weight equivalence check requires.
    """
    if w is None:
        return Standardizer.fit(X, Y)
    w = w / w.sum()
    stats = []
    for A in (X, Y):
        mean = w @ A
        scale = np.sqrt(w @ (A - mean) ** 2)
        # As Standardizer.fit: a column constant up to rounding gets scale 1.
        tiny = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        stats += [mean, np.where(tiny, 1.0, scale)]
    return Standardizer(*stats)


def differential_weights(dv: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Per-input scales ``lambda_j`` (see :data:`LAMBDA_POWER`) and ``alpha``.

    ``lambda_j = c * rms(dv_j) ** -LAMBDA_POWER`` with ``c`` such that the mean over the
    inputs of ``(lambda_j * rms(dv_j)) ** 2`` is 1; with power 1 (``c = 1``) these are
    Huge & Savine's ``1 / rms(dv_j)``.

    Parameters
    ----------
    dv : ndarray, shape (N, m, d)
        Standardised derivative labels.
    w : ndarray, shape (N,), optional
        Sample weights for the mean square.

    Returns
    -------
    lam : ndarray, shape (d,)
        1 for an input whose derivative labels are all zero (left out of ``c``).
    alpha : float
        ``1 / (1 + d)``, the value term's share of the loss.
    """
    sq = (dv**2).sum(1)  # (N, d), summed over outputs
    ms = sq.mean(0) if w is None else (w / w.sum()) @ sq
    rms = np.sqrt(ms)
    live = rms > 0
    lam = np.ones_like(rms)
    if live.any():
        tempered = rms[live] ** -LAMBDA_POWER
        lam[live] = tempered / np.sqrt(np.mean((tempered * rms[live]) ** 2))
    return lam, 1.0 / (1.0 + dv.shape[2])


class InputScale(nn.Module):
    """Fixed per-input multiplication, in front of a network during training only.

    Training the composition on inputs ``u / lambda`` with derivative labels
    ``lambda * dv`` multiplies each input's derivative residual by ``lambda_j`` while the
    network itself still sees ``u``; afterwards the network alone is the fitted model.
    """

    def __init__(self, scale: np.ndarray, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def check_derivative(value: Any, name: str, n: int, m: int, d: int, order: int):
    """Validate ``dy`` (order 1) or ``d2y`` (order 2) like X; return (N, m, d[, d])."""
    if value is None:
        return None
    arr = check_array(
        value,
        dtype=np.float64,
        ensure_2d=False,
        allow_nd=True,
        ensure_min_samples=0,
        ensure_min_features=0,
        input_name=name,
    )
    tail = (d,) * order
    if arr.shape == (n, m, *tail):
        return arr
    if m == 1 and arr.shape == (n, *tail):
        return arr[:, None]
    raise ValueError(
        f"{name} must have shape {(n, m, *tail)} (N, m{', d' * order})"
        + (f" or {(n, *tail)}" if m == 1 else "")
        + f" to match X of shape {(n, d)} and y with m = {m} output(s), got shape {arr.shape}"
    )


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out indices; at least one sample on each side."""
    if n < 2:
        raise ValueError(f"early_stopping=True needs at least 2 samples, got n_samples = {n}")
    n_val = held_out_size(n, fraction)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def derivative_source(
    derivatives: str, order: int, n_neighbors, dy, d2y, n: int, method: str = "fit"
) -> tuple[str, int]:
    """Resolve ``derivatives`` against the data: (source, order trained).

    ``method`` names the estimator method in messages (``"fit"`` or ``"partial_fit"``).
    """
    source = derivatives
    if source == "auto":
        source = "given" if dy is not None else "none"
    order = 0 if source == "none" else int(order)
    if source == "given" and order >= 1 and dy is None:
        raise ValueError(
            f'derivatives="given" needs the derivatives dy in {method}(X, y, dy=...); pass '
            'them, or set derivatives="auto" or "none" (values only) or "estimate" '
            "(nearest-neighbour estimates)"
        )
    if order == 2 and d2y is None:
        raise ValueError("order=2 needs second derivatives d2y in fit(X, y, dy=..., d2y=...)")
    if source == "estimate":
        if n < 2:
            raise ValueError(
                f'derivatives="estimate" needs at least 2 samples to find neighbours, '
                f"got n_samples = {n} (1 sample)"
            )
        if n_neighbors is not None and not n_neighbors <= n - 1:
            raise ValueError(
                f"n_neighbors must be at most N - 1 = {n - 1} for {n} training samples, "
                f"got {n_neighbors}"
            )
    return source, order


def check_data(est, X: Any, y: Any, dy: Any, d2y: Any, sample_weight: Any, *, reset: bool):
    """Validate the data of ``fit`` or ``partial_fit`` (``reset``: record d and names).

    Returns
    -------
    X : ndarray, shape (N, d)
    Y : ndarray, shape (N, m)
        ``y`` with an output axis.
    y_1d : bool
        Whether ``y`` was 1-D.
    sw : ndarray, shape (N,), or None
    dy : ndarray, shape (N, m, d), or None
    d2y : ndarray, shape (N, m, d, d), or None
    """
    X, y = validate_data(
        est, X, y, multi_output=True, y_numeric=True, dtype=np.float64, reset=reset
    )
    y_1d = y.ndim == 1
    Y = y[:, None] if y_1d else y
    (n, d), m = X.shape, Y.shape[1]
    sw = None
    if sample_weight is not None:
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    dy = check_derivative(dy, "dy", n, m, d, order=1)
    d2y = check_derivative(d2y, "d2y", n, m, d, order=2)
    return X, Y, y_1d, sw, dy, d2y


def loss_weights(weights: Any, order: int, dv: np.ndarray | None, w: np.ndarray | None):
    """The input scales and the :class:`SobolevLoss` weights for ``weights``.

    Parameters
    ----------
    weights : the estimator's ``weights``
    order : int
        The order trained; order 0 takes no weights.
    dv : ndarray, shape (N, m, d), or None
        Standardised derivative labels (needed by ``"differential"``).
    w : ndarray, shape (N,), or None
        Sample weights.

    Returns
    -------
    lam : ndarray, shape (d,), or None
        ``"differential"``'s per-input scales (:func:`differential_weights`), for
        :class:`InputScale`; None otherwise.
    weights : tuple of float, "auto" or None
    """
    if order == 0:
        return None, None
    if isinstance(weights, str) and weights == "differential":
        lam, a = differential_weights(dv, w)
        return lam, (a, (1.0 - a) / dv.shape[2])
    return None, weights


def training_tensors(
    idx, xs, ys, dys, d2ys, sw, lam, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, Target]:
    """Samples ``idx`` of the standardised data as inputs (N, d) and a :class:`Target`.

    With ``lam`` the inputs are ``u / lam`` and the derivative labels ``lam * dv``, so
    that :class:`InputScale` in front of the network trains the scaled residuals.
    """

    def tensor(a):
        if a is None:
            return None
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    x = xs[idx] if lam is None else xs[idx] / lam
    dv = None if dys is None else (dys[idx] if lam is None else dys[idx] * lam)
    target = Target.from_arrays(
        tensor(ys[idx]),
        tensor(dv),
        None if d2ys is None else tensor(d2ys[idx]),
        sample_weight=None if sw is None else tensor(sw[idx]),
    )
    return tensor(x), target
