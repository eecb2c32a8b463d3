"""A small, seeded training loop for Sobolev (and plain) regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from sobolev import derivatives as D
from sobolev._training import (
    EarlyStopping,
    check_early_stopping,
    check_schedule,
    check_seed,
    loss_steps,
    minibatches,
    progress_enabled,
    train,
)
from sobolev._validation import check_choice, check_inputs, check_nonnegative_float
from sobolev.loss import SobolevLoss
from sobolev.target import Target

__all__ = ["fit", "progress_enabled"]


def fit(
    model: nn.Module,
    x: Any,
    target: Target,
    *,
    loss: SobolevLoss | None = None,
    steps: int = 1000,
    lr: float = 1e-3,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    progress: bool = True,
    schedule: Literal["constant", "cosine", "one_cycle"] = "constant",
    weight_decay: float = 0.0,
    optimizer: Callable[..., torch.optim.Optimizer] | None = None,
    validation: tuple[Any, Target] | None = None,
    val_metric: Literal["values", "loss"] | SobolevLoss = "values",
    eval_every: int = 1,
    patience: int | None = None,
    tol: float = 0.0,
    patience_growth: float = 0.0,
) -> dict[str, Any]:
    """Train ``model`` on ``target`` at inputs ``x`` with Adam (by default).

    Parameters
    ----------
    model : nn.Module
        Maps (N, d) to (N, m) or (N,); trained in place.
    x : array or Tensor, shape (N, d)
        Training inputs; moved to the device and dtype of the model's parameters.
    target : Target
        Array targets hold the same N samples as ``x``.
    loss : SobolevLoss, optional
        Defaults to ``SobolevLoss(order=1)``. With ``weights="auto"`` and a function
        target, the target's scales are taken on the full ``x`` before training.
    steps : int
        Number of optimiser steps (0 returns an empty history).
    lr : float
        Initial learning rate (a positive finite number; bool is refused).
    batch_size : int, optional
        None for full-batch steps; otherwise minibatches of this size.
    shuffle : bool
        With minibatches: draw each pass's minibatches from a fresh permutation of the
        samples (the ``N % batch_size`` left over sit that pass out). False: take them
        as consecutive slices in the samples' order, the last one shorter, the same
        every pass, so training is a deterministic function of the data's order.
        No effect with full batches.
    seed : int
        Seeds minibatch order, random projections and any randomness in the model
        (dropout) for this call only; with the same initial model, the same seed gives
        an identical history on CPU. None is refused: every run is seeded.
    progress : bool
        Show a tqdm bar (never when stderr is not a terminal or ``CI`` is set).
    schedule : {"constant", "cosine", "one_cycle"}
        Learning-rate schedule over ``steps``: constant, cosine decay to 0, or Huge &
        Savine's one-cycle (a warm-up to the peak ``lr`` over the first fifth, then
        annealing to ``1e-7 lr``).
    weight_decay : float
        Passed to the optimiser.
    optimizer : callable, optional
        ``optimizer(params, lr=..., weight_decay=...)``; defaults to ``torch.optim.Adam``.
    validation : (x_val, target_val), optional
        Held-out inputs (N_val, d) and their :class:`Target`. The model is evaluated
        before training, every ``eval_every`` steps and after the last step (in eval
        mode, without drawing random numbers, so training is unchanged), and the
        state with the lowest held-out metric is restored at the end.
    val_metric : {"values", "loss"} or SobolevLoss
        ``"values"``: mean over samples of the squared value error (summed over
        outputs), the order-0 term of the loss. ``"loss"``: the training loss with the
        same order and weights, exact (random projections are replaced by the exact
        terms so that the metric is deterministic); needs derivatives in
        ``target_val``. A :class:`SobolevLoss`: that loss's order and weights, exact
        (``"auto"`` weights resolved on the training data), for a held-out score that
        weighs the terms differently from training.
    eval_every : int
        Optimiser steps between held-out evaluations.
    patience : int, optional
        Stop after this many evaluations in a row without a relative improvement
        larger than ``tol`` over the best so far; None never stops early.
    tol : float
        Relative improvement that resets the patience (0: any decrease).
    patience_growth : float
        Lengthens the patience for runs that keep improving: stop only after
        ``max(patience, patience_growth * k)`` evaluations without improvement, where
        ``k`` counts the evaluations up to the last improvement. 1 trains at least
        twice as long as the best took (the ``patience_increase = 2`` of the Theano
        Deep Learning Tutorials); 0 keeps the patience fixed.

    Returns
    -------
    dict
        Per-step lists ``"total"`` (the weighted loss), the unweighted ``"order0"``..
        ``"order{K}"`` terms (see :attr:`SobolevLoss.components`) and ``"lr"``. With
        ``validation`` also ``"val_step"`` (list of int, steps done at each
        evaluation), ``"val"`` (list of float), ``"best_step"``, ``"best_val"`` (the
        restored state's step and metric) and ``"stopped_step"`` (steps run).

    Raises
    ------
    ValueError
        On a bad argument (the message names it), before any training.
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
    in_dim = getattr(model, "in_dim", None)
    if isinstance(in_dim, int) and x.shape[1] != in_dim:
        raise ValueError(f"x has d = {x.shape[1]} columns but the model expects in_dim = {in_dim}")
    n = x.shape[0]
    if not target.is_function and len(target) != n:
        raise ValueError(f"x has N = {n} samples but target has {len(target)}")
    steps, batch_size = check_schedule(steps, lr, schedule, batch_size, n)
    check_choice(shuffle, "shuffle", (True, False))
    seed = check_seed(seed)
    check_nonnegative_float(weight_decay, "weight_decay")
    if optimizer is not None and not callable(optimizer):
        raise ValueError(f"optimizer must be callable, got {type(optimizer).__name__}")
    eval_every, patience, tol, patience_growth = check_early_stopping(
        validation, val_metric, eval_every, patience, tol, patience_growth, allow_loss=True
    )
    evaluate = None
    if validation is not None:
        evaluate = _held_out(model, x, target, loss, validation, val_metric)

    if loss.weights == "auto" and target.is_function:
        # A function target fixes its "auto" scales when first asked: ask on the full x,
        # not on the first minibatch (a forked RNG keeps any teacher dropout out of it).
        with torch.random.fork_rng(devices=[]):
            loss.resolve_weights(target, x)

    make_opt = optimizer or torch.optim.Adam
    opt = make_opt(params, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    batches = minibatches(n, batch_size, generator, shuffle=bool(shuffle))
    history: dict[str, Any]
    history, step_loss, after_step = loss_steps(
        loss, model, x, target, generator, "lower lr or check the targets' scale"
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        early = None
        if evaluate is not None:
            state = list(model.state_dict().values())
            early = EarlyStopping(
                evaluate, state, 1, eval_every=eval_every, patience=patience, tol=tol,
                member_axis=False, patience_growth=patience_growth,
            )  # fmt: skip
        ran = train(
            opt, step_loss, lr=lr, schedule=schedule, steps=steps, batches=batches,
            after_step=after_step, progress=progress, desc="fit", early=early,
        )  # fmt: skip
    if early is not None:
        rec = early.restore(ran)
        history["val_step"] = rec["val_step"].tolist()
        history["val"] = rec["val"][:, 0].tolist()
        history["best_step"] = int(rec["best_step"][0])
        history["best_val"] = float(rec["best_val"][0])
        history["stopped_step"] = int(rec["stopped_step"][0])
    return history


def _held_out(
    model: nn.Module, x: torch.Tensor, target: Target, loss: SobolevLoss, validation, metric: str
) -> Callable[[], torch.Tensor]:
    """Validate ``validation`` and return the closure computing the held-out metric."""
    if not (isinstance(validation, tuple | list) and len(validation) == 2):
        raise ValueError(
            "validation must be a pair (x_val, target_val) with target_val a sobolev.Target, "
            f"got {type(validation).__name__}"
            + (f" of length {len(validation)}" if isinstance(validation, tuple | list) else "")
        )
    xv = check_inputs(validation[0], "validation x_val").to(device=x.device, dtype=x.dtype)
    tv = validation[1]
    if xv.shape[1] != x.shape[1]:
        raise ValueError(
            f"validation x_val has d = {xv.shape[1]} columns but x has d = {x.shape[1]}"
        )
    if not isinstance(tv, Target):
        raise ValueError(f"validation target_val must be a sobolev.Target, got {type(tv).__name__}")
    if not tv.is_function and len(tv) != xv.shape[0]:
        raise ValueError(
            f"validation x_val has N_val = {xv.shape[0]} samples but target_val has {len(tv)}"
        )
    scorer = metric if isinstance(metric, SobolevLoss) else loss
    if metric != "values" and not tv.is_function and tv.max_order < scorer.order:
        name = "a SobolevLoss" if scorer is metric else '"loss"'
        raise ValueError(
            f"val_metric={name} with SobolevLoss(order={scorer.order}) needs derivatives up "
            f"to order {scorer.order} in validation target_val, which has order {tv.max_order}"
        )

    def evaluate() -> torch.Tensor:
        modes = [(mod, mod.training) for mod in model.modules()]
        model.eval()
        try:
            if metric == "values":
                with torch.no_grad():
                    err = ((D._evaluate(model, xv) - tv.values(xv)) ** 2).sum(1).mean()
            else:
                # The scorer's weights ("auto" resolved on the training target), exact terms.
                exact = SobolevLoss(scorer.order, weights=scorer.resolve_weights(target, x))
                err = exact(model, xv, tv)
        finally:
            for mod, mode in modes:
                mod.training = mode
        return err.detach().reshape(1)

    return evaluate
