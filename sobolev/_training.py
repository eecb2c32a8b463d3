"""The training loop shared by :func:`sobolev.fit` and :func:`sobolev.fit_ensemble`.

Both trainers hand :func:`train` a closure computing one step's loss; the loop owns the
learning-rate schedule, the minibatch order, the optimiser step, the progress bar and
early stopping (:class:`EarlyStopping`), so the two agree on every one of them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from sobolev._validation import (
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)

VAL_METRICS = ("values", "loss")


def progress_enabled(progress: bool) -> bool:
    """Show progress bars only when asked, on a terminal, and outside CI."""
    return bool(progress) and sys.stderr.isatty() and not os.environ.get("CI")


#: Learning-rate schedules over a known number of steps.
SCHEDULES = ("constant", "cosine", "one_cycle")


def check_schedule(steps, lr, schedule, batch_size, n: int) -> tuple[int, int | None]:
    """Validate the optimisation arguments; return ``steps`` and ``batch_size`` (<= n)."""
    steps = check_nonnegative_int(steps, "steps")
    check_positive_float(lr, "lr")
    check_choice(schedule, "schedule", SCHEDULES)
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), n)
    return steps, batch_size


def check_seed(seed: Any) -> int:
    """A seed is a non-negative integer; None is refused so that runs stay reproducible."""
    if seed is None:
        raise ValueError(
            "seed must be a non-negative integer, got None: training is seeded so that "
            "it can be repeated; pass e.g. seed=0"
        )
    return check_nonnegative_int(seed, "seed")


def check_early_stopping(
    validation, val_metric, eval_every, patience, tol, patience_growth=0.0, allow_loss=False
) -> tuple:
    """Validate the early-stopping arguments; return ``(eval_every, patience, tol,
    patience_growth)``. ``allow_loss``: ``val_metric`` may also be a ``SobolevLoss``."""
    from sobolev.loss import SobolevLoss

    known = isinstance(val_metric, str) and val_metric in VAL_METRICS
    if not (known or (allow_loss and isinstance(val_metric, SobolevLoss))):
        extra = " or a sobolev.SobolevLoss" if allow_loss else ""
        raise ValueError(f"val_metric must be one of {VAL_METRICS}{extra}, got {val_metric!r}")
    eval_every = check_positive_int(eval_every, "eval_every")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if validation is None:
            raise ValueError("patience needs validation=(x_val, ...) to measure improvement")
    tol = check_nonnegative_float(tol, "tol")
    patience_growth = check_nonnegative_float(patience_growth, "patience_growth")
    return eval_every, patience, tol, patience_growth


def check_finite_rows(total: torch.Tensor, start: int, stop: int) -> None:
    """Raise ``FloatingPointError`` naming members if rows ``start:stop`` are not finite."""
    bad = ~torch.isfinite(total[start:stop])
    if bool(bad.any()):
        first = start + int(bad.any(1).nonzero()[0])
        members = bad.any(0).nonzero().flatten().tolist()
        raise FloatingPointError(
            f"loss of member(s) {members} became non-finite at step {first}; "
            "lower lr or check the targets' scale"
        )


# Huge & Savine's one-cycle shape (Differential ML, 2020), relative to the peak ``lr``:
# a linear warm-up over the first fifth, then annealing by seven orders of magnitude.
_ONE_CYCLE = ((0.0, 0.2, 0.6, 0.9, 1.0), (1e-7, 1.0, 0.1, 1e-5, 1e-7))


def learning_rate(lr: float, schedule: str, step: int, steps: int) -> float:
    """Learning rate at ``step`` of ``steps``.

    ``"constant"``: ``lr``; ``"cosine"``: cosine decay from ``lr`` towards 0;
    ``"one_cycle"``: piecewise linear through ``lr`` times 1e-7, 1, 0.1, 1e-5, 1e-7 at
    0, 20, 60, 90 and 100% of the steps (``lr`` is the peak).
    """
    if schedule == "constant":
        return lr
    if schedule == "one_cycle":
        t = step / steps if steps else 1.0
        xs, ys = _ONE_CYCLE
        for i in range(1, len(xs)):
            if t <= xs[i]:
                frac = (t - xs[i - 1]) / (xs[i] - xs[i - 1])
                return lr * (ys[i - 1] + frac * (ys[i] - ys[i - 1]))
        return lr * ys[-1]
    return 0.5 * lr * (1 + math.cos(math.pi * step / steps))


def minibatches(
    n: int, batch_size: int | None, generator: torch.Generator, shuffle: bool = True
) -> Iterator[torch.Tensor | None]:
    """Endless minibatch indices; None means the full batch.

    With ``shuffle`` each pass draws a fresh permutation and takes ``n // batch_size``
    minibatches of ``batch_size`` from it (the ``n % batch_size`` samples left over are
    not used in that pass). The permutation is drawn only when a pass starts, so the
    generator's other uses (random projections) interleave with it exactly as the steps
    happen. Without ``shuffle``: consecutive slices in the samples' order, the same every
    pass, the last one shorter when ``batch_size`` does not divide ``n``.
    """
    if batch_size is None or batch_size == n:
        while True:
            yield None
    if not shuffle:
        # Keep the short last slice: in a fixed order, dropping it would leave the same
        # samples out of every pass.
        slices = torch.arange(n).split(batch_size)
        while True:
            yield from slices
    order, cursor = torch.empty(0, dtype=torch.long), 0
    while True:
        if cursor + batch_size > order.numel():
            order, cursor = torch.randperm(n, generator=generator), 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size


class EarlyStopping:
    """Held-out evaluation, best-state tracking and patience for ``E`` members at once.

    Parameters
    ----------
    evaluate : callable
        ``evaluate() -> Tensor (E,)``: the held-out metric of every member now.
    state : sequence of Tensor
        The tensors to restore (parameters, buffers); with ``member_axis`` each has the
        members on its leading axis, otherwise they form one member (``E = 1``).
    eval_every, patience, tol, patience_growth
        As in :func:`sobolev.fit`.
    member_axis : bool

    Notes
    -----
    The best state is the one with the lowest metric; patience counts evaluations whose
    metric is not below ``best - tol * |best|``, and a member stops once that count
    reaches ``max(patience, patience_growth * k)``, where ``k`` is the number of
    evaluations after the initial one up to its last such improvement. A member that
    has run out of patience keeps its best state frozen (later evaluations are
    recorded but ignored), so each member ends exactly where its own sequential run
    would have stopped.

    A trainer that stops computing stopped members calls :meth:`track` with the smaller
    stack's tensors: ``evaluate`` then returns the metric of the tracked members only,
    best states are taken from the tracked tensors, and :meth:`restore` still loads every
    member's best state into the original ``state``.
    """

    def __init__(
        self,
        evaluate: Callable[[], torch.Tensor],
        state: Sequence[torch.Tensor],
        n_members: int,
        *,
        eval_every: int,
        patience: int | None,
        tol: float,
        member_axis: bool,
        patience_growth: float = 0.0,
    ) -> None:
        self.evaluate, self.state, self.member_axis = evaluate, list(state), member_axis
        self.eval_every, self.patience, self.tol = eval_every, patience, tol
        self.growth = patience_growth
        self.best_state = [t.detach().clone() for t in self.state]
        self.best = torch.full((n_members,), math.inf, dtype=torch.float64)
        self.best_step = torch.zeros(n_members, dtype=torch.long)
        self.waited = torch.zeros(n_members, dtype=torch.long)
        self.stopped = torch.zeros(n_members, dtype=torch.bool)
        self.stopped_step = torch.full((n_members,), -1, dtype=torch.long)
        self.val_step: list[int] = []
        self.val: list[torch.Tensor] = []
        # The tensors training updates now and the members their leading rows hold
        # (None: all of them, in ``state`` itself).
        self.live, self.members = self.state, None

    def track(self, live: Sequence[torch.Tensor], members: torch.Tensor) -> None:
        """Follow a stack holding only ``members`` (full indices, in increasing order).

        ``live`` matches ``state`` tensor by tensor with ``len(members)`` rows. Every
        member left out must have stopped; in ``val`` its entries then repeat its last
        recorded value.
        """
        if not self.member_axis:
            raise ValueError("track needs member_axis=True")
        members = torch.as_tensor(members, dtype=torch.long).cpu().reshape(-1)
        left_out = torch.ones_like(self.stopped)
        left_out[members] = False
        if not bool(self.stopped[left_out].all()) or not self.val:
            raise ValueError("only members that have stopped can be left out of the stack")
        self.live, self.members = list(live), members

    def due(self, step: int, steps: int) -> bool:
        """Whether to evaluate after ``step`` optimiser steps (always after the last)."""
        return step % self.eval_every == 0 or step == steps

    @torch.no_grad()
    def update(self, step: int) -> bool:
        """Evaluate after ``step`` steps; return True when every member has stopped."""
        value = self.evaluate().detach().to("cpu", torch.float64).reshape(-1)
        if self.members is not None:
            # The members left out of the stack have stopped: repeat their last value.
            value = self.val[-1].index_copy(0, self.members, value)
        self.val_step.append(step)
        self.val.append(value)
        active = ~self.stopped
        bad = active & ~torch.isfinite(value)
        if bool(bad.any()):
            raise FloatingPointError(
                f"held-out metric of member(s) {bad.nonzero().flatten().tolist()} became "
                f"non-finite after step {step}; lower lr or check the validation data's scale"
            )
        better = active & (value < self.best)
        # The first finite value always counts (inf - tol * inf would be NaN).
        bar = torch.where(self.best.isinf(), self.best, self.best - self.tol * self.best.abs())
        significant = active & (value < bar)
        if bool(better.any()):
            self._snapshot(better)
        self.best = torch.where(better, value, self.best)
        self.best_step = torch.where(better, step, self.best_step)
        self.waited = torch.where(significant, 0, self.waited + active.long())
        if self.patience is not None:
            # An active member's last significant improvement was ``waited`` evaluations ago.
            improved_at = len(self.val) - 1 - self.waited
            need = (self.growth * improved_at).ceil().long().clamp(min=self.patience)
            out = active & (self.waited >= need)
            self.stopped_step[out] = step
            self.stopped |= out
        return bool(self.stopped.all())

    def _snapshot(self, mask: torch.Tensor) -> None:
        rows = None if self.members is None else mask[self.members]
        for best, now in zip(self.best_state, self.live, strict=True):
            if not self.member_axis:
                best.copy_(now.detach())
            elif rows is None:
                best[mask.to(best.device)] = now.detach()[mask.to(now.device)]
            else:
                best[self.members[rows].to(best.device)] = now.detach()[rows.to(now.device)]

    @torch.no_grad()
    def restore(self, steps_run: int) -> dict[str, Any]:
        """Load the best state; return the history entries (as tensors, per member)."""
        for best, now in zip(self.best_state, self.state, strict=True):
            now.copy_(best)
        stopped_step = torch.where(self.stopped, self.stopped_step, steps_run)
        return {
            "val_step": torch.tensor(self.val_step, dtype=torch.long),
            "val": torch.stack(self.val),
            "best_step": self.best_step,
            "best_val": self.best,
            "stopped_step": stopped_step,
        }


def loss_steps(loss, model, x: torch.Tensor, target, generator: torch.Generator, hint: str):
    """The per-step callbacks of :func:`train` for one Sobolev loss on ``(x, target)``.

    Returns
    -------
    history : dict of str to list of float
        ``total``, ``order0``..``order{k}`` and ``lr`` per step, filled by ``after_step``.
    step_loss : callable
        ``step_loss(step, idx)``: the loss on the minibatch ``idx`` (None: all of ``x``);
        raises FloatingPointError naming ``hint`` when it is NaN or inf.
    after_step : callable
        Records the step's components; every 50 steps returns the loss for the bar.
    """
    history: dict[str, list[float]] = {"total": [], "lr": []}
    history.update({f"order{k}": [] for k in range(loss.order + 1)})

    def step_loss(step: int, idx: torch.Tensor | None) -> torch.Tensor:
        if idx is None:
            xb, tb = x, target
        else:
            idx = idx.to(x.device)
            xb, tb = x[idx], target[idx]
        value = loss(model, xb, tb, generator=generator)
        if not math.isfinite(loss.components["total"]):
            raise FloatingPointError(
                f"loss became {loss.components['total']} at step {step} "
                f"(components {loss.components}); {hint}"
            )
        return value

    def after_step(step: int, step_lr: float) -> str | None:
        for key, val in loss.components.items():
            history[key].append(val)
        history["lr"].append(step_lr)
        return f"{loss.components['total']:.3g}" if step % 50 == 0 else None

    return history, step_loss, after_step


def train(
    opt: torch.optim.Optimizer,
    step_loss: Callable[[int, torch.Tensor | None], torch.Tensor],
    *,
    lr: float,
    schedule: str,
    steps: int,
    batches: Iterator[torch.Tensor | None],
    after_step: Callable[[int, float], str | None],
    progress: bool,
    desc: str,
    early: EarlyStopping | None = None,
    after_eval: Callable[[int], None] | None = None,
) -> int:
    """Run up to ``steps`` optimiser steps; return how many ran.

    Each step sets the scheduled learning rate, draws the next minibatch indices,
    back-propagates ``step_loss(step, idx)`` and steps ``opt``; ``after_step(step, lr)``
    records the history and may return a progress-bar label. With ``early`` the model
    is evaluated before training and every ``eval_every`` steps (and after the last),
    and the loop ends once every member has run out of patience; ``after_eval(step)``
    is called after each evaluation that ends neither the loop nor the budget.
    """
    if early is not None and early.update(0):
        return 0
    bar = tqdm(range(steps), disable=not progress_enabled(progress), desc=desc, leave=False)
    for step in bar:
        step_lr = learning_rate(lr, schedule, step, steps)
        for group in opt.param_groups:
            group["lr"] = step_lr
        idx = next(batches)
        opt.zero_grad(set_to_none=True)
        step_loss(step, idx).backward()
        opt.step()
        label = after_step(step, step_lr)
        if label is not None:
            bar.set_postfix(loss=label)
        if early is not None and early.due(step + 1, steps):
            if early.update(step + 1):
                bar.close()
                return step + 1
            if after_eval is not None and step + 1 < steps:
                after_eval(step + 1)
    return steps
