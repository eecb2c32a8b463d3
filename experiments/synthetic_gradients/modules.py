r"""Synthetic-gradient modules and critics placed at a cut of the network.

At a cut with activations ``h`` (N, *shape) and labels ``y`` (one-hot, (N, K)):

* :class:`SyntheticGradient` (DNI) predicts the gradient directly,
  :math:`\hat g(h, y)` with the shape of ``h``; its last layer is zero-initialised, so
  it starts by predicting 0 (the lower stage starts still, not random).
* :class:`Critic` predicts the downstream loss, a scalar :math:`c(h, y)`, and the
  synthetic gradient is :math:`\partial c / \partial h`. Its last layer is
  zero-initialised as well, so its first synthetic gradient is also 0.

With ``conditioned=True`` (cDNI) the module also sees the one-hot label: concatenated
to ``h`` for flat activations, as K constant planes for image activations. Derivatives
are always taken with respect to ``h`` only (see :func:`critic_of_flat_h`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from sobolev.models import ACTIVATIONS

__all__ = ["Critic", "SyntheticGradient", "critic_of_flat_h", "critic_value_and_gradient"]


def _with_label(h: torch.Tensor, y_onehot: torch.Tensor | None) -> torch.Tensor:
    if y_onehot is None:
        return h
    if h.ndim == 2:
        return torch.cat([h, y_onehot.to(h.dtype)], 1)
    planes = y_onehot.to(h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[2:])
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
    c = shape[0] + extra
    for _ in range(layers):
        body += [nn.Conv2d(c, width, 3, padding=1), act()]
        c = width
    return body, c


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
            out = nn.Conv2d(d, self.shape[0], 3, padding=1)
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
            d = d * self.shape[1] * self.shape[2]
        self.net = nn.Sequential(*body, _zero(nn.Linear(d, 1)))

    def forward(self, h: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted per-sample loss, shape (N,)."""
        return self.net(_with_label(h, y_onehot if self.conditioned else None)).squeeze(1)


def critic_of_flat_h(
    critic: Critic, y_onehot: torch.Tensor | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The critic as a function of the flattened activations only, label held fixed.

    Returns ``f`` mapping (N, prod(shape)) to (N, 1), so that
    :func:`sobolev.value_and_jacobian` and :class:`sobolev.SobolevLoss` differentiate
    with respect to ``h`` and never with respect to the label input.
    """
    shape = critic.shape

    def f(h_flat: torch.Tensor) -> torch.Tensor:
        return critic(h_flat.view(-1, *shape), y_onehot).unsqueeze(1)

    return f


def critic_value_and_gradient(
    critic: Critic, h: torch.Tensor, y_onehot: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Detached critic values (N,) and synthetic gradients dc/dh (N, *shape) at ``h``.

    The gradient of the batch sum is each sample's own gradient (no sample mixing).
    """
    with torch.enable_grad():
        hg = h.detach().requires_grad_(True)
        c = critic(hg, y_onehot)
        (g,) = torch.autograd.grad(c.sum(), hg)
    return c.detach(), g.detach()
