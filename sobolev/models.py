"""Small reference models."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev.activations import REGISTRY, get_activation

__all__ = ["ACTIVATIONS", "MLP", "check_hidden"]

#: Activation name -> module class, read-only, derived from
#: :data:`sobolev.activations.REGISTRY` (which also holds sigma and sigma').
ACTIVATIONS: Mapping[str, type[nn.Module]] = MappingProxyType(
    {name: act.module for name, act in REGISTRY.items()}
)


def check_hidden(hidden: Any) -> tuple[int, ...]:
    """Hidden widths as a tuple; an int ``h`` means one hidden layer, ``(h,)``."""
    if hasattr(hidden, "__index__"):  # int and numpy integers (bool is refused below)
        return (check_positive_int(hidden, "hidden"),)
    try:
        widths = tuple(hidden) if not isinstance(hidden, str) else None
    except TypeError:
        widths = None
    if widths is None:
        raise ValueError(f"hidden must be a sequence of positive integers (widths), got {hidden!r}")
    return tuple(check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(widths))


class MLP(nn.Sequential):
    """Fully connected network with a linear output layer.

    Parameters
    ----------
    in_dim : int
        Input dimension d; inputs of another width are refused with a ``ValueError``.
    out_dim : int
        Output dimension m; the output has shape (N, m), also for m = 1.
    hidden : sequence of int, or int
        Widths of the hidden layers (empty for a linear model); an int ``h`` is one
        hidden layer, ``(h,)``, as in scikit-learn's ``hidden_layer_sizes``.
    activation : str
        One of :data:`ACTIVATIONS`. Second derivatives need a smooth one.
    seed : int, optional
        Seed for the initial weights (PyTorch's default initialisation); the global
        random state is left untouched when given.
    dtype : torch.dtype, optional
        A floating dtype; None uses PyTorch's default.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 1,
        hidden: Sequence[int] | int = (256, 256),
        activation: str = "relu",
        *,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        in_dim = check_positive_int(in_dim, "in_dim")
        out_dim = check_positive_int(out_dim, "out_dim")
        hidden = check_hidden(hidden)
        module = get_activation(activation).module
        if seed is not None:
            seed = check_nonnegative_int(seed, "seed")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
        widths = (in_dim, *hidden)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(widths):
                layers += [nn.Linear(a, b, dtype=dtype), module()]
            layers.append(nn.Linear(widths[-1], out_dim, dtype=dtype))
            super().__init__(*layers)
        self.in_dim, self.out_dim, self.hidden, self.activation = (
            in_dim,
            out_dim,
            hidden,
            activation,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (N, m) for inputs (N, d) with d = ``in_dim``."""
        shape = tuple(getattr(x, "shape", ()))
        if not shape or shape[-1] != self.in_dim:
            raise ValueError(
                f"x must have shape (N, d) with d = in_dim = {self.in_dim}, got shape {shape} "
                f"(d = {shape[-1] if shape else 'none'})"
            )
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, activation={self.activation!r}"
