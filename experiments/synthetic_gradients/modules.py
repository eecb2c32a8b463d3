r"""Synthetic-gradient modules and critics placed at a cut of the network.

At a cut with activations ``h`` (N, *shape) and labels ``y`` (one-hot, (N, K)):

* :class:`SyntheticGradient` (DNI) predicts the gradient directly,
  :math:`\hat g(h, y)` with the shape of ``h``; its last layer is zero-initialised, so
  it starts by predicting 0 (the lower stage starts still, not random).
* :class:`Critic` predicts the downstream loss, a scalar :math:`c(h, y)`, and the
  synthetic gradient is :math:`\partial c / \partial h`. Its last layer is
  zero-initialised as well, so its first synthetic gradient is also 0.

With ``conditioned=True`` (cDNI) the module also sees the one-hot label: concatenated
to ``h`` for flat activations, as K constant channels for (N, C, L) or (N, C, H, W)
activations. Derivatives are always taken with respect to ``h`` only.

:func:`critic_loss` is the critics' training loss, value and gradient terms with their
own weights; it stays on the device (no host synchronisation), unlike
:class:`sobolev.SobolevLoss`, whose ``components`` read every term back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sobolev.models import ACTIVATIONS

__all__ = ["Critic", "SyntheticGradient", "critic_loss", "critic_value_and_gradient"]


def _with_label(h: torch.Tensor, y_onehot: torch.Tensor | None) -> torch.Tensor:
    if y_onehot is None:
        return h
    if h.ndim == 2:
        return torch.cat([h, y_onehot.to(h.dtype)], 1)
    spatial = (None,) * (h.ndim - 2)
    planes = y_onehot.to(h.dtype)[(slice(None), slice(None), *spatial)].expand(-1, -1, *h.shape[2:])
    return torch.cat([h, planes], 1)


def _zero(layer: nn.Module) -> nn.Module:
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _body(
    shape: Sequence[int], extra: int, width: int, layers: int, activation: str
) -> tuple[list[nn.Module], int]:
    """Hidden layers on (N, *shape) plus ``extra`` label features/planes."""
    act = ACTIVATIONS[activation]
    body: list[nn.Module] = []
    if len(shape) == 1:
        d = shape[0] + extra
        for _ in range(layers):
            body += [nn.Linear(d, width), act()]
            d = width
        return body, d
    conv, c = _conv(shape), shape[0] + extra
    for _ in range(layers):
        body += [conv(c, width, 3, padding=1), act()]
        c = width
    return body, c


def _conv(shape: Sequence[int]) -> type[nn.Module]:
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must be (d,), (C, L) or (C, H, W), got {tuple(shape)}")
    return nn.Conv1d if len(shape) == 2 else nn.Conv2d


class SyntheticGradient(nn.Module):
    """Direct synthetic-gradient module: ``h`` (N, *shape) -> predicted dL/dh (N, *shape).

    Parameters
    ----------
    shape : sequence of int
        Per-sample activation shape: (d,) or (C, H, W).
    n_classes : int
        K, the size of the one-hot label (used when ``conditioned``).
    conditioned : bool
        Feed the label too (cDNI).
    width, layers : int
        Hidden width (units or channels) and number of hidden layers.
    activation : str
        A key of :data:`sobolev.models.ACTIVATIONS`.
    """

    def __init__(
        self,
        shape: Sequence[int],
        n_classes: int,
        *,
        conditioned: bool = True,
        width: int = 256,
        layers: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.shape, self.conditioned = tuple(shape), conditioned
        body, d = _body(self.shape, n_classes if conditioned else 0, width, layers, activation)
        if len(self.shape) == 1:
            out = nn.Linear(d, self.shape[0])
        else:
            out = _conv(self.shape)(d, self.shape[0], 3, padding=1)
        self.net = nn.Sequential(*body, _zero(out))

    def forward(self, h: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted gradient, shape (N, *shape)."""
        return self.net(_with_label(h, y_onehot if self.conditioned else None))


class Critic(nn.Module):
    """Scalar critic ``c(h, y)`` of the downstream loss; shape (N, *shape) -> (N,).

    Parameters are as for :class:`SyntheticGradient`. With ReLU the synthetic
    gradient is piecewise constant in ``h``; on a digits validation split a ReLU critic
    still trained the lower stages more stably than a softplus one, whose nearly
    sample-independent gradient early in training drove hidden units dead.
    """

    def __init__(
        self,
        shape: Sequence[int],
        n_classes: int,
        *,
        conditioned: bool = True,
        width: int = 256,
        layers: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.shape, self.conditioned = tuple(shape), conditioned
        body, d = _body(self.shape, n_classes if conditioned else 0, width, layers, activation)
        if len(self.shape) > 1:
            body.append(nn.Flatten())
            d = d * math.prod(self.shape[1:])
        self.net = nn.Sequential(*body, _zero(nn.Linear(d, 1)))

    def forward(self, h: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted per-sample loss, shape (N,)."""
        return self.net(_with_label(h, y_onehot if self.conditioned else None)).squeeze(1)


def critic_value_and_gradient(
    critic: Critic,
    h: torch.Tensor,
    y_onehot: torch.Tensor | None,
    *,
    differentiable: bool = False,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Critic values (N,) and synthetic gradients dc/dh (N, *shape) at ``h``.

    The gradient of the batch sum is each sample's own gradient (no sample mixing).
    With ``differentiable`` the values keep their graph in the critic's parameters, and
    with ``create_graph`` the gradients too (for :func:`critic_loss`); otherwise both
    are detached.
    """
    with torch.enable_grad():
        hg = h.detach().requires_grad_(True)
        c = critic(hg, y_onehot)
        (g,) = torch.autograd.grad(
            c.sum(), hg, retain_graph=differentiable, create_graph=differentiable and create_graph
        )
    if differentiable:
        return c, g if create_graph else g.detach()
    return c.detach(), g.detach()


def critic_loss(
    c: torch.Tensor,
    g: torch.Tensor,
    value_t: torch.Tensor,
    grad_t: torch.Tensor,
    w_value: float,
    w_grad: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The critic's loss :math:`w_v\,\mathrm{mean}_i (c_i - v_i)^2 + w_g\,\mathrm{mean}_i
    |\nabla_h c_i - \delta_i|^2` and its two unweighted terms.

    Parameters
    ----------
    c : Tensor, shape (N,)
        Critic values (differentiable, from :func:`critic_value_and_gradient`).
    g : Tensor, shape (N, *shape)
        Its input gradients (differentiable when ``w_grad > 0``).
    value_t : Tensor, shape (N,)
        Target values: the per-sample loss, or the critic above (bootstrapped).
    grad_t : Tensor, shape (N, *shape)
        Target per-sample gradients.
    w_value, w_grad : float
        Weights of the value and gradient terms (0 leaves a term out of the graph).

    Returns
    -------
    loss, value_term, grad_term : Tensor (scalars, on the device)
    """
    value_term = ((c - value_t) ** 2).mean()
    grad_term = ((g - grad_t) ** 2).flatten(1).sum(1).mean()
    loss = 0.0 * c.sum()
    if w_value:
        loss = loss + w_value * value_term
    if w_grad:
        loss = loss + w_grad * grad_term
    return loss, value_term.detach(), grad_term.detach()
