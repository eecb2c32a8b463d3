"""Input checks shared by the public functions: clear errors naming the argument."""

from __future__ import annotations

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


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as int if it is an integer >= 0 (a seed, a count that may be 0)."""
    return check_positive_int(value, name, minimum=0)
