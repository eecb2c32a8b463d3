"""Input checks shared by the public functions: clear errors naming the argument."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn


def as_tensor(value: Any, name: str, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """Convert array-likes to a tensor (on ``like``'s device and dtype when given)."""
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - numpy's own message is kept
            raise ValueError(f"{name} must be array-like, got {type(value).__name__}") from exc
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
        t = torch.as_tensor(arr)
    if like is not None:
        t = t.to(device=like.device, dtype=like.dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    return t


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``t`` holds NaN or inf."""
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or inf value(s); expected finite numbers")


def check_inputs(x: Any, name: str = "x") -> torch.Tensor:
    """Validate a batch of inputs of shape (N, d) and return it as a floating tensor."""
    t = as_tensor(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    check_finite(t, name)
    return t


def check_directions(v: Any, x: torch.Tensor, size: int, name: str = "v") -> torch.Tensor:
    """Validate per-sample direction vectors of shape (N, size)."""
    t = as_tensor(v, name, like=x)
    expected = (x.shape[0], size)
    if tuple(t.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


def check_not_batchnorm_training(f: Any) -> None:
    """Refuse modules whose outputs mix samples, which breaks the batch-sum trick.

    BatchNorm in training mode normalises with batch statistics, so the derivative of
    the batch sum with respect to one sample is not that sample's own derivative.
    """
    if not isinstance(f, nn.Module):
        return
    for name, module in f.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
            raise ValueError(
                f"f contains BatchNorm module {name or type(module).__name__!r} in training "
                "mode: its outputs mix samples, so per-sample input derivatives would be "
                "wrong. Call f.eval() (or use a per-sample normalisation such as LayerNorm)."
            )


def _member_array(value: Any, name: str, like: torch.Tensor, shape: tuple) -> torch.Tensor:
    t = as_tensor(value, name, like=like)
    # Scalar-output data may leave out the axis m = 1.
    if t.ndim == len(shape) - 1 and shape[2] == 1:
        t = t.unsqueeze(2)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    check_finite(t, name)
    return t


def check_member_layers(layers: Any, biases: Any) -> int:
    """Check stacked layer matrices (E, in, out) and biases (E, 1, out); return E."""
    layers, biases = list(layers), list(biases)
    if len(layers) != len(biases) or not layers:
        raise ValueError("layers and biases must be non-empty sequences of equal length")
    if not all(isinstance(t, torch.Tensor) for t in (*layers, *biases)):
        raise ValueError("layers and biases must hold torch Tensors")
    e = layers[0].shape[0] if layers[0].ndim == 3 else None
    for i, (w, b) in enumerate(zip(layers, biases, strict=True)):
        if w.ndim != 3 or w.shape[0] != e:
            raise ValueError(
                f"layers[{i}] must have shape (E, in, out) with E = {e} as layers[0], "
                f"got {tuple(w.shape)}"
            )
        if tuple(b.shape) != (e, 1, w.shape[2]):
            raise ValueError(
                f"biases[{i}] must have shape ({e}, 1, {w.shape[2]}), got {tuple(b.shape)}"
            )
        if i and w.shape[1] != layers[i - 1].shape[2]:
            raise ValueError(
                f"layers[{i}] has input width {w.shape[1]} but layers[{i - 1}] has output "
                f"width {layers[i - 1].shape[2]}"
            )
    return e


def check_member_data(
    x: Any,
    y: Any,
    dy: Any,
    *,
    like: torch.Tensor,
    e: int,
    d: int,
    m: int,
    need_dy: bool,
    prefix: str = "",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Member-stacked data as tensors like ``like``: x (E, N, d), y (E, N, m), dy (E, N, m, d).

    ``y`` may be (E, N) and ``dy`` (E, N, d) when m = 1; ``dy`` is returned only when
    ``need_dy``. Names in messages start with ``prefix`` (e.g. ``"validation "``).
    """
    xt = as_tensor(x, f"{prefix}x", like=like)
    if xt.ndim != 3 or xt.shape[0] != e or xt.shape[2] != d or xt.shape[1] < 1:
        raise ValueError(
            f"{prefix}x must have shape (E, N, d) = ({e}, N, {d}), got {tuple(xt.shape)}"
        )
    check_finite(xt, f"{prefix}x")
    n = xt.shape[1]
    yt = _member_array(y, f"{prefix}y", like, (e, n, m))
    if not need_dy:
        return xt, yt, None
    if dy is None:
        raise ValueError(f"{prefix}dy is needed when any member has w1 > 0 (Sobolev training)")
    return xt, yt, _member_array(dy, f"{prefix}dy", like, (e, n, m, d))


def check_member_validation(validation: Any, **kw: Any) -> tuple:
    """Held-out ``(x_val, y_val)`` or ``(x_val, y_val, dy_val)``, checked as in
    :func:`check_member_data` (keywords passed on) with names prefixed ``validation``."""
    if not (isinstance(validation, tuple | list) and len(validation) in (2, 3)):
        raise ValueError(
            "validation must be (x_val, y_val) or (x_val, y_val, dy_val), "
            f"got {type(validation).__name__}"
        )
    dy = validation[2] if len(validation) == 3 else None
    return check_member_data(validation[0], validation[1], dy, prefix="validation ", **kw)


def check_member_weights(weights: Any, e: int, *, like: torch.Tensor) -> torch.Tensor:
    """Per-order loss weights ``(w0, w1)`` for all ``e`` members, or per member, as (E, 2)."""
    w = as_tensor(weights, "weights", like=like)
    if w.ndim == 1:
        w = w.unsqueeze(0).expand(e, -1)
    if tuple(w.shape) != (e, 2):
        raise ValueError(
            f"weights must be 2 floats (w0, w1) or have shape ({e}, 2), got shape {tuple(w.shape)}"
        )
    bad = ~torch.isfinite(w).all(1) | (w < 0).any(1)
    if bool(bad.any()):
        members = torch.nonzero(bad).flatten().tolist()
        first = w[members[0]]
        hint = "" if bool(torch.isfinite(first).all()) else " (beyond the dtype's range?)"
        raise ValueError(
            f"weights must be finite and non-negative in {w.dtype}; member(s) "
            f"{members[:5]}{' ...' if len(members) > 5 else ''} have {first.tolist()}{hint}"
        )
    return w


def _is_integer(value: Any) -> bool:
    # bool is an int subclass, but True as a count or a seed is a caller's mistake.
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return (_is_integer(value) or isinstance(value, float | np.floating)) and not isinstance(
        value, bool | np.bool_
    )


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum`` (bool is refused).

    Python and numpy integer scalars are accepted; floats such as ``3.0`` are not.
    """
    if not _is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as int if it is an integer >= 0 (a seed, a count that may be 0)."""
    return check_positive_int(value, name, minimum=0)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as bool if it is True or False (numpy bools too, nothing else)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_float(value: Any, name: str) -> float:
    """Return ``value`` as float if it is a finite real number > 0 (bool is refused)."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonnegative_float(value: Any, name: str) -> float:
    """Return ``value`` as float if it is a finite real number >= 0 (bool is refused)."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_probability(
    value: Any, name: str, *, allow_zero: bool = True, allow_one: bool = True
) -> float:
    """Return ``value`` as float if it lies in [0, 1] (ends excluded when not allowed)."""
    lo, hi = "[" if allow_zero else "(", "]" if allow_one else ")"
    ok = _is_real(value) and math.isfinite(value)
    ok = (
        ok
        and (value >= 0 if allow_zero else value > 0)
        and (value <= 1 if allow_one else value < 1)
    )
    if not ok:
        raise ValueError(f"{name} must be a number in {lo}0, 1{hi}, got {value!r}")
    return float(value)


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices`` (compared with ``==``, bool refused)."""
    choices = tuple(choices)
    # True == 1, so a bool would otherwise pass for the choice 1.
    if isinstance(value, bool | np.bool_) and not any(isinstance(c, bool) for c in choices):
        ok = False
    else:
        try:
            ok = value in choices
        except (TypeError, ValueError):  # arrays and unhashables are simply not a choice
            ok = False
    if not ok:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


def check_member_weight_decay(value: Any, e: int, *, like: torch.Tensor) -> torch.Tensor | None:
    """``weight_decay`` as a tensor (E,), or None when it is zero for every member."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise ValueError(f"weight_decay must be a float or E floats, got {value!r}")
    try:
        wd = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=like.dtype)
    except (TypeError, ValueError):
        raise ValueError(f"weight_decay must be a float or E floats, got {value!r}") from None
    if wd.ndim == 0:
        wd = wd.expand(e)
    if wd.shape != (e,) or not bool(torch.isfinite(wd).all()) or bool((wd < 0).any()):
        raise ValueError(
            f"weight_decay must be a non-negative float or {e} of them (one per member), "
            f"got {value!r}"
        )
    return None if not bool((wd > 0).any()) else wd.to(like.device)
