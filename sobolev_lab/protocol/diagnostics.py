"""Per-cell diagnostics: dead ReLU units and the final training loss of each term."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["DEAD_UNIT_ACTIVATIONS", "dead_unit_fraction", "final_train_losses"]

#: Activations whose units can die: zero (or near-zero) slope for every negative input.
DEAD_UNIT_ACTIVATIONS = ("relu", "leaky_relu", "elu")


@torch.no_grad()
def dead_unit_fraction(model: nn.Module, x: Any) -> float | np.ndarray:
    """Fraction of hidden units whose pre-activation is <= 0 on every input of ``x``.

    Such a unit outputs a constant (0 for ReLU) on the data and passes no gradient to
    its input weights, so training cannot revive it from these inputs.

    Parameters
    ----------
    model : sobolev.MLP or sobolev.ensemble.MLPEnsemble
        With an activation in :data:`DEAD_UNIT_ACTIVATIONS`.
    x : array or Tensor, shape (N, d); (E, N, d) per member for an ensemble

    Returns
    -------
    float for an MLP, ndarray of shape (E,) for an ensemble
        Dead units over all hidden units of all layers.
    """
    from sobolev.ensemble import MLPEnsemble
    from sobolev.models import MLP

    if not isinstance(model, MLP | MLPEnsemble):
        raise ValueError(f"model must be a sobolev.MLP or MLPEnsemble, got {type(model).__name__}")
    if model.activation not in DEAD_UNIT_ACTIVATIONS:
        raise ValueError(
            f"dead units are defined for activations {DEAD_UNIT_ACTIVATIONS}, got "
            f"{model.activation!r}"
        )
    if isinstance(model, MLPEnsemble):
        xs = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if xs.ndim == 2:
            xs = xs.expand(model.n_members, -1, -1)
        if xs.ndim != 3 or xs.shape[0] != model.n_members:
            raise ValueError(
                f"x must have shape (N, d) or (E, N, d) with E = {model.n_members}, got "
                f"{tuple(xs.shape)}"
            )
        # Member by member through the public MLP view: the pre-activations are not
        # part of the ensemble's API, and E small networks cost little next to training.
        members = zip(model.to_models(), xs, strict=True)
        return np.array([dead_unit_fraction(m, xe) for m, xe in members])
    p = next(model.parameters())
    h = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    h = h.to(device=p.device, dtype=p.dtype)
    if h.ndim != 2 or h.shape[1] != model.in_dim:
        raise ValueError(f"x must have shape (N, {model.in_dim}), got {tuple(h.shape)}")
    layers = list(model)
    dead = total = 0
    for lin, act in zip(layers[:-1:2], layers[1::2], strict=True):
        a = lin(h)
        dead += int((a <= 0).all(0).sum())
        total += a.shape[1]
        h = act(a)
    if total == 0:
        raise ValueError("model has no hidden units")
    return dead / total


def final_train_losses(
    history: Mapping[str, Any], *, window: int = 1, at: str = "last"
) -> dict[str, Any]:
    """The training loss of each term at the end of a history (``fit`` or ``fit_ensemble``).

    Parameters
    ----------
    history : mapping
        Per-step lists (``fit``: ``total``, ``order0``, ...) or arrays (steps, E)
        (``fit_ensemble``).
    window : int
        Average of the last ``window`` steps (minibatch noise); with ``at="best"``,
        the ``window`` steps ending at each member's best step (the loss recorded at
        step ``best_step``, the state early stopping restored; the last recorded loss
        when ``best_step`` is the final state).
    at : {"last", "best"}
        At the last step, or at ``history["best_step"]`` (early stopping restored the
        best weights, so that is the trained model's loss).

    Returns
    -------
    dict
        ``total`` and every ``order{k}`` key: a float (``fit``) or a list of E floats.
    """
    from sobolev._validation import check_positive_int

    window = check_positive_int(window, "window")
    if at not in ("last", "best"):
        raise ValueError(f'at must be "last" or "best", got {at!r}')
    keys = [k for k in history if k == "total" or (k.startswith("order") and k[5:].isdigit())]
    if not keys:
        raise ValueError("history holds no 'total' or 'order{k}' loss terms")
    out: dict[str, Any] = {}
    for key in keys:
        a = np.asarray(history[key], dtype=np.float64)
        if a.ndim not in (1, 2) or a.shape[0] == 0:
            raise ValueError(f"history[{key!r}] must be (steps,) or (steps, E), got {a.shape}")
        cols = a[:, None] if a.ndim == 1 else a
        if at == "last":
            ends = np.full(cols.shape[1], cols.shape[0] - 1)
        else:
            if "best_step" not in history:
                raise ValueError('at="best" needs history["best_step"] (early stopping)')
            ends = np.broadcast_to(np.asarray(history["best_step"], dtype=int), (cols.shape[1],))
            # Step t's loss is that of the state after t updates; the state after the
            # last update (best_step = steps) was never trained on, so take the last loss.
            ends = np.where(ends == cols.shape[0], cols.shape[0] - 1, ends)
            if (ends < 0).any() or (ends >= cols.shape[0]).any():
                raise ValueError(f"best_step {ends} outside the {cols.shape[0]} recorded steps")
        vals = [float(cols[max(0, t - window + 1) : t + 1, e].mean()) for e, t in enumerate(ends)]
        out[key] = vals[0] if a.ndim == 1 else vals
    return out
