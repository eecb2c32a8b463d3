"""Small reference models."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


class MLP(nn.Sequential):
    """Fully connected network with a linear output layer.

    Parameters
    ----------
    in_dim : int
        Input dimension d.
    out_dim : int
        Output dimension m; the output has shape (N, m), also for m = 1.
    hidden : sequence of int
        Widths of the hidden layers (empty for a linear model).
    activation : str
        One of :data:`ACTIVATIONS`. Second derivatives need a smooth one.
    seed : int, optional
        Seed for the initial weights (PyTorch's default initialisation); the global
        random state is left untouched when given.
    dtype : torch.dtype, optional
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 1,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        *,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        hidden = tuple(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        widths = (in_dim, *hidden)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(widths):
                layers += [nn.Linear(a, b, dtype=dtype), ACTIVATIONS[activation]()]
            layers.append(nn.Linear(widths[-1], out_dim, dtype=dtype))
            super().__init__(*layers)
        self.in_dim, self.out_dim, self.hidden, self.activation = (
            in_dim,
            out_dim,
            hidden,
            activation,
        )

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, activation={self.activation!r}"
