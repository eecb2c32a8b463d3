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
