"""Pieces shared by the training loops: fit and ensemble.fit_ensemble."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from sobolev._validation import check_positive_int


def check_schedule(steps, lr, schedule, batch_size, n: int) -> tuple[int, int | None]:
    """Validate the optimisation arguments; return ``steps`` and ``batch_size`` (<= n)."""
    steps = check_positive_int(steps, "steps", minimum=0)
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f'schedule must be "constant" or "cosine", got {schedule!r}')
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), n)
    return steps, batch_size


def learning_rate(lr: float, schedule: str, step: int, steps: int) -> float:
    """Learning rate at ``step`` of ``steps``: constant, or cosine decay towards 0."""
    if schedule == "constant":
        return lr
    return 0.5 * lr * (1 + math.cos(math.pi * step / steps))


def minibatches(
    n: int, batch_size: int | None, generator: torch.Generator
) -> Iterator[torch.Tensor | None]:
    """Endless minibatch indices, reshuffled every epoch; None means the full batch.

    The permutation is drawn only when an epoch starts, so the generator's other uses
    (random projections) interleave with it exactly as the steps happen.
    """
    if batch_size is None or batch_size == n:
        while True:
            yield None
    order, cursor = torch.empty(0, dtype=torch.long), 0
    while True:
        if cursor + batch_size > order.numel():
            order, cursor = torch.randperm(n, generator=generator), 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size
