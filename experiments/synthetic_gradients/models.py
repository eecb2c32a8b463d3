"""Networks split into stages, with a synthetic-gradient module between stages.

The layers of a network are fixed by the dataset alone; the number of modules only
decides where the network is cut. So ``backprop`` with 1 and with 3 modules trains the
very same network (identical numbers for the same seed), and every method starts from
the same initial weights for a given seed.

* MLP (digits, MNIST): ``d -> 256 -> 256 -> 256 -> 10`` ReLU (widths configurable).
  3 modules: a cut after every hidden layer; 1 module: a cut after the second one.
* 1-D CNN (MNIST-1D): three blocks ``conv1d(k=5, stride 2)-ReLU`` (32 channels each
  by default, as MNIST-1D's published CNN) and a linear head; 3 modules: a cut after
  every block.
* CNN (CIFAR-10): three blocks ``conv3x3-ReLU-conv3x3-ReLU-maxpool`` (32, 64, 128
  channels) and a head ``flatten-256-ReLU-10``. 3 modules: a cut after every block;
  1 module: a cut after the second block.

No BatchNorm: it mixes samples, which would break per-sample input derivatives.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from sobolev_lab.experiments.synthetic_gradients.config import ALLOWED_MODULES

__all__ = ["ALLOWED_MODULES", "cnn1d_stages", "cnn_stages", "mlp_stages", "stage_shapes"]


def _cuts(n_blocks: int, n_modules: int) -> list[int]:
    """Indices (into the list of blocks) after which the network is cut."""
    if n_modules not in ALLOWED_MODULES:
        raise ValueError(f"modules must be one of {ALLOWED_MODULES}, got {n_modules!r}")
    if n_modules == n_blocks - 1:
        return list(range(n_blocks - 1))
    return [n_blocks // 2 - 1]


def _group(blocks: list[nn.Module], n_modules: int) -> nn.ModuleList:
    cuts = _cuts(len(blocks), n_modules)
    stages, current = [], []
    for i, block in enumerate(blocks):
        current.append(block)
        if i in cuts or i == len(blocks) - 1:
            stages.append(nn.Sequential(*current))
            current = []
    return nn.ModuleList(stages)


def mlp_stages(
    in_dim: int,
    n_classes: int,
    n_modules: int,
    hidden: Sequence[int] = (256, 256, 256),
    *,
    seed: int,
) -> nn.ModuleList:
    """An MLP cut into ``n_modules + 1`` stages; the last stage outputs logits (N, n_classes).

    ``hidden`` must hold 3 widths (4 linear layers), so both 1 and 3 cuts exist.
    """
    hidden = tuple(hidden)
    if len(hidden) != 3:
        raise ValueError(f"hidden must hold 3 layer widths, got {hidden!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        widths = (in_dim, *hidden)
        blocks: list[nn.Module] = [
            nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in itertools.pairwise(widths)
        ]
        blocks.append(nn.Linear(widths[-1], n_classes))
    return _group(blocks, n_modules)


def _check_blocks(channels: Sequence[int], size: int, name: str, why: str) -> tuple[int, ...]:
    channels = tuple(channels)
    if len(channels) != 3:
        raise ValueError(f"channels must hold 3 block widths, got {channels!r}")
    if size % 8:
        raise ValueError(f"{name} must be divisible by 8 ({why}), got {size}")
    return channels


def cnn1d_stages(
    in_channels: int,
    n_classes: int,
    n_modules: int,
    channels: Sequence[int] = (32, 32, 32),
    length: int = 40,
    *,
    seed: int,
) -> nn.ModuleList:
    """A 1-D CNN for (N, C, L) sequences cut into ``n_modules + 1`` stages."""
    channels = _check_blocks(channels, length, "length", "three stride-2 blocks")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            blocks.append(nn.Sequential(nn.Conv1d(c_in, c, 5, stride=2, padding=2), nn.ReLU()))
            c_in = c
        blocks.append(nn.Sequential(nn.Flatten(), nn.Linear(c_in * (length // 8), n_classes)))
    return _group(blocks, n_modules)


def cnn_stages(
    in_channels: int,
    n_classes: int,
    n_modules: int,
    channels: Sequence[int] = (32, 64, 128),
    image_size: int = 32,
    *,
    seed: int,
) -> nn.ModuleList:
    """A small CNN for (N, C, H, W) images cut into ``n_modules + 1`` stages."""
    channels = _check_blocks(channels, image_size, "image_size", "three poolings")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c, 3, padding=1),
                    nn.ReLU(),
                    nn.Conv2d(c, c, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                )
            )
            c_in = c
        side = image_size // 8
        blocks.append(
            nn.Sequential(
                nn.Flatten(),
                nn.Linear(c_in * side * side, 256),
                nn.ReLU(),
                nn.Linear(256, n_classes),
            )
        )
    return _group(blocks, n_modules)


@torch.no_grad()
def stage_shapes(stages: nn.ModuleList, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """Per-sample shapes of the activations at every cut (the modules' inputs)."""
    p = next(stages.parameters())
    h = torch.zeros(1, *input_shape, dtype=p.dtype, device=p.device)
    shapes = []
    for stage in stages[:-1]:
        h = stage(h)
        shapes.append(tuple(h.shape[1:]))
    return shapes
