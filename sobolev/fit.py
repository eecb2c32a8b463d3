"""A small, seeded training loop for Sobolev (and plain) regression."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from sobolev._training import check_schedule, learning_rate, minibatches
from sobolev._validation import check_inputs
from sobolev.loss import SobolevLoss
from sobolev.target import Target

__all__ = ["fit", "progress_enabled"]


def progress_enabled(progress: bool) -> bool:
    """Show progress bars only when asked, on a terminal, and outside CI."""
    return bool(progress) and sys.stderr.isatty() and not os.environ.get("CI")


def fit(
    model: nn.Module,
    x: Any,
    target: Target,
    *,
    loss: SobolevLoss | None = None,
    steps: int = 1000,
    lr: float = 1e-3,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    schedule: Literal["constant", "cosine"] = "constant",
    weight_decay: float = 0.0,
    optimizer: Callable[..., torch.optim.Optimizer] | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on ``target`` at inputs ``x`` with Adam (by default).

    Parameters
    ----------
    model : nn.Module
        Maps (N, d) to (N, m) or (N,); trained in place.
    x : array or Tensor, shape (N, d)
        Training inputs; moved to the device of the model's parameters.
    target : Target
        Array targets hold the same N samples as ``x``.
    loss : SobolevLoss, optional
        Defaults to ``SobolevLoss(order=1)``.
    steps : int
        Number of optimiser steps (0 returns an empty history).
    lr : float
        Initial learning rate.
    batch_size : int, optional
        None for full-batch steps; otherwise minibatches drawn by reshuffling the
        samples every epoch.
    seed : int
        Seeds minibatch order, random projections and any randomness in the model
        (dropout) for this call only; with the same initial model, the same seed gives
        an identical history on CPU.
    progress : bool
        Show a tqdm bar (never when stderr is not a terminal or ``CI`` is set).
    schedule : {"constant", "cosine"}
        Learning-rate schedule over ``steps``.
    weight_decay : float
        Passed to the optimiser.
    optimizer : callable, optional
        ``optimizer(params, lr=..., weight_decay=...)``; defaults to ``torch.optim.Adam``.

    Returns
    -------
    dict of str to list of float
        Per-step ``"total"`` loss, unweighted ``"order0"``.. ``"order{K}"`` terms (see
        :attr:`SobolevLoss.components`) and ``"lr"``.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or inf; the message names the step.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(target, Target):
        raise ValueError(
            "target must be a sobolev.Target (Target.from_arrays or Target.from_function), "
            f"got {type(target).__name__}"
        )
    loss = SobolevLoss(order=1) if loss is None else loss
    if not isinstance(loss, SobolevLoss):
        raise ValueError(f"loss must be a sobolev.SobolevLoss, got {type(loss).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    x = check_inputs(x).to(device=params[0].device, dtype=params[0].dtype)
    n = x.shape[0]
    if not target.is_function and len(target) != n:
        raise ValueError(f"x has N = {n} samples but target has {len(target)}")
    steps, batch_size = check_schedule(steps, lr, schedule, batch_size, n)

    make_opt = optimizer or torch.optim.Adam
    opt = make_opt(params, lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {"total": [], "lr": []}
    history.update({f"order{k}": [] for k in range(loss.order + 1)})
    generator = torch.Generator().manual_seed(seed)
    batches = minibatches(n, batch_size, generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bar = tqdm(range(steps), disable=not progress_enabled(progress), desc="fit", leave=False)
        for step in bar:
            step_lr = learning_rate(lr, schedule, step, steps)
            for group in opt.param_groups:
                group["lr"] = step_lr
            idx = next(batches)
            if idx is None:
                xb, tb = x, target
            else:
                idx = idx.to(x.device)
                xb, tb = x[idx], target[idx]
            opt.zero_grad(set_to_none=True)
            value = loss(model, xb, tb, generator=generator)
            if not math.isfinite(loss.components["total"]):
                raise FloatingPointError(
                    f"loss became {loss.components['total']} at step {step} "
                    f"(components {loss.components}); lower lr or check the targets' scale"
                )
            value.backward()
            opt.step()
            for key, val in loss.components.items():
                history[key].append(val)
            history["lr"].append(step_lr)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.components['total']:.3g}")
    return history
