"""The members :func:`sobolev.ensemble.fit_ensemble` computes, and their compaction.

With early stopping a member that has run out of patience keeps its best state frozen,
yet computing it costs as much as computing an active member. :class:`MemberStack`
holds what one training step needs (the model, its optimiser and every per-member
tensor) for the members still computed; once at least half of them have stopped, it
goes on with a stack of the active members only: it slices the parameters, Adam's
moments (its ``step`` is one scalar per parameter tensor, shared by all members, and is
kept as it is), the data, the loss weights, the decay and the validation data. Members
share no parameters and Adam is elementwise, so an active member's trajectory is the
same as in the full stack; the minibatch order is drawn outside the stack, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sobolev._training import EarlyStopping


class MemberStack:
    """The members computed now: a model, its optimiser and per-member tensors.

    Parameters
    ----------
    model : MLPEnsemble
        Holds the computed members (at first the whole ensemble, which is then never
        modified here: compaction builds a new, smaller model).
    opt : torch.optim.Optimizer
        A single parameter group holding ``model.parameters()`` in order; it is kept
        (the training loop holds it) and given the smaller model's parameters and state.
    tensors : mapping of str to Tensor or None
        Per-member data (members on the leading axis); None entries stay None.

    Attributes
    ----------
    members : Tensor of int64
        The ensemble index of every computed member, increasing (rows of ``model`` and
        of ``tensors``).
    """

    def __init__(
        self, model: Any, opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor | None]
    ) -> None:
        if len(opt.param_groups) != 1:
            raise ValueError("MemberStack needs an optimiser with one parameter group")
        self.model, self.opt, self.tensors = model, opt, dict(tensors)
        self.n_members = model.n_members
        self.members = torch.arange(self.n_members)

    @property
    def params(self) -> list[torch.Tensor]:
        """The parameters being trained, in ``model.parameters()`` order."""
        return self.opt.param_groups[0]["params"]

    @property
    def compacted(self) -> bool:
        """Whether some members are no longer computed."""
        return self.members.numel() < self.n_members

    @torch.no_grad()
    def decay_gradients(self) -> None:
        """Add ``wd_e * theta_e`` to every gradient: Adam's coupled L2 decay per member.

        That is the gradient of ``0.5 * wd_e * |theta_e|^2`` over member ``e``'s
        parameters, added in place between ``backward`` and the optimiser step
        (cheaper than back-propagating the penalty).
        """
        wd = self.tensors.get("wd")
        if wd is None:
            return
        for p in self.params:
            if p.grad is not None:
                p.grad.addcmul_(p, wd.view(-1, *([1] * (p.ndim - 1))))

    def record(
        self, history: Mapping[str, torch.Tensor], step: int, values: Mapping[str, Any]
    ) -> None:
        """Write the step's per-member values into ``history[key][step]`` (steps, E).

        Members no longer computed repeat their value at the step before.
        """
        for key, value in values.items():
            if value is None:
                continue
            row = history[key][step]
            if not self.compacted:
                row.copy_(value.detach())
            else:
                row.copy_(history[key][step - 1])
                row[self.members] = value.detach().to(row)

    def due(self, stopped: torch.Tensor) -> bool:
        """Whether to compact: at least half of the computed members stopped, not all."""
        n_stopped = int(stopped[self.members].sum())
        return 0 < n_stopped < self.members.numel() and 2 * n_stopped >= self.members.numel()

    @torch.no_grad()
    def compact(self, stopped: torch.Tensor) -> None:
        """Go on with the computed members that have not ``stopped`` (bool, per member)."""
        keep = (~stopped[self.members]).nonzero().flatten()
        device = self.params[0].device
        rows = keep.to(device)
        model = self.model
        n = len(model.layers)
        sliced = [p.detach()[rows] for p in self.params]
        new = type(model)(sliced[:n], sliced[n:], model.activation)
        new_params = list(new.parameters())
        state = self.opt.state
        for old, p in zip(self.params, new_params, strict=True):
            entries = state.pop(old, {})
            state[p] = {k: _rows(v, old, rows, k) for k, v in entries.items()}
        self.opt.param_groups[0]["params"] = new_params
        self.tensors = {
            k: None if t is None else t[keep.to(t.device)] for k, t in self.tensors.items()
        }
        self.model, self.members = new, self.members[keep]


def _rows(value: Any, param: torch.Tensor, rows: torch.Tensor, key: str) -> Any:
    """One optimiser-state entry restricted to ``rows``: per-element moments are sliced,
    scalars (Adam's ``step``) are shared by the members and kept."""
    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        return value
    if value.shape != param.shape:
        raise ValueError(
            f"optimiser state {key!r} has shape {tuple(value.shape)}, neither a scalar nor "
            f"the parameter's {tuple(param.shape)}: cannot restrict it to some members"
        )
    return value[rows]


def compact_if_due(stack: MemberStack, early: EarlyStopping) -> None:
    """After an evaluation: compact ``stack`` when it is due and let ``early`` follow it."""
    if stack.due(early.stopped):
        stack.compact(early.stopped)
        early.track(stack.params, stack.members)
