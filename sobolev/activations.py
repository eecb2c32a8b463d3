"""The one activation registry: name -> (torch module factory, sigma, sigma').

:class:`sobolev.MLP` builds its layers from ``module``; :class:`sobolev.MLPEnsemble`
evaluates ``sigma`` and forms input Jacobians with ``sigma_prime``. Every entry uses
PyTorch's default parameters, and at kinks ``sigma_prime`` takes the value autograd
uses (ReLU'(0) = 0), so both models give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["REGISTRY", "Activation", "get_activation"]

Elementwise = Callable[[torch.Tensor], torch.Tensor]


class Activation(NamedTuple):
    """One registry entry.

    Attributes
    ----------
    module : type of nn.Module
        Called without arguments to build a layer.
    sigma : callable
        The activation, elementwise on a Tensor of any shape.
    sigma_prime : callable
        Its derivative, same shape as the input.
    """

    module: type[nn.Module]
    sigma: Elementwise
    sigma_prime: Elementwise


def _gelu_prime(a: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1.0 + torch.erf(a / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    return cdf + a * pdf


def _silu_prime(a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return s * (1.0 + a * (1.0 - s))


def _sigmoid_prime(a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return s * (1.0 - s)


#: Name -> :class:`Activation`; the names every model and study accepts.
REGISTRY: dict[str, Activation] = {
    "relu": Activation(nn.ReLU, torch.relu, lambda a: (a > 0).to(a.dtype)),
    "leaky_relu": Activation(
        nn.LeakyReLU,
        lambda a: nn.functional.leaky_relu(a, 0.01),
        # full_like keeps 0.01 in a's precision (a Python scalar would round it to float32).
        lambda a: torch.where(a > 0, torch.ones_like(a), torch.full_like(a, 0.01)),
    ),
    "softplus": Activation(
        nn.Softplus,
        nn.functional.softplus,
        # softplus(beta=1, threshold=20) is the identity above the threshold.
        lambda a: torch.where(a > 20, torch.ones_like(a), torch.sigmoid(a)),
    ),
    "tanh": Activation(nn.Tanh, torch.tanh, lambda a: 1.0 - torch.tanh(a) ** 2),
    "silu": Activation(nn.SiLU, nn.functional.silu, _silu_prime),
    "gelu": Activation(nn.GELU, nn.functional.gelu, _gelu_prime),
    "elu": Activation(
        nn.ELU, nn.functional.elu, lambda a: torch.where(a > 0, torch.ones_like(a), torch.exp(a))
    ),
    "sigmoid": Activation(nn.Sigmoid, torch.sigmoid, _sigmoid_prime),
}


def get_activation(name: object, argument: str = "activation") -> Activation:
    """The registry entry for ``name``; a ``ValueError`` naming ``argument`` otherwise."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"{argument} must be one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[name]
