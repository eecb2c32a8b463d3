"""The teacher's actor-critic conv net."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TeacherNet"]


class TeacherNet(nn.Module):
    """Conv actor-critic on MinAtar frames: conv 3x3 -> ReLU -> FC -> ReLU -> heads.

    Parameters
    ----------
    in_channels : int
        Channels C of the game's (10, 10, C) frames.
    n_actions : int
        Size A of the game's minimal action set.
    channels : int
        Filters of the 3x3 convolution (no padding: 8 x 8 maps).
    hidden : int
        Width of the fully connected layer.
    """

    def __init__(self, in_channels: int, n_actions: int, channels: int = 16, hidden: int = 128):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3)
        self.fc = nn.Linear(channels * 8 * 8, hidden)
        self.policy = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """Hidden features (B, hidden) of observations (B, 10, 10, C)."""
        h = torch.relu(self.conv(obs.permute(0, 3, 1, 2)))
        return torch.relu(self.fc(h.flatten(1)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits (B, A) and state values (B,) of observations (B, 10, 10, C)."""
        h = self.features(obs)
        return self.policy(h), self.value(h).squeeze(1)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits (B, A) of observations (B, 10, 10, C)."""
        return self.policy(self.features(obs))
