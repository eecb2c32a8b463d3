"""The student network and the two distillation losses.

Choice of the differentiated quantity: the Sobolev term matches the input Jacobian
of the **log-probabilities** ``log softmax(logits)`` (N, A) rather than of raw logits.
Logits are defined only up to a per-state additive constant, and so are their
Jacobians (a student whose logit Jacobian differs from the teacher's by ``1 g^T`` has
the same policy and policy Jacobian), so matching raw-logit Jacobians would penalise
differences that do not change the policy. Log-probabilities remove that freedom
(they equal logits centred by the log-partition function) and are the quantity the
KL is written in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["StudentNet", "flat_log_policy", "kl_divergence"]


class StudentNet(nn.Module):
    """A smaller conv policy: conv 3x3 (``channels`` filters) -> ReLU -> FC -> ReLU -> logits.

    Parameters
    ----------
    in_channels : int
        Channels C of the (10, 10, C) frames.
    n_actions : int
    channels : int
        Default 8 (the teacher has 16).
    hidden : int
        Default 64 (the teacher has 128).
    """

    def __init__(self, in_channels: int, n_actions: int, channels: int = 8, hidden: int = 64):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3)
        self.fc = nn.Linear(channels * 8 * 8, hidden)
        self.policy = nn.Linear(hidden, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits (B, A) of observations (B, 10, 10, C)."""
        h = torch.relu(self.conv(obs.permute(0, 3, 1, 2)))
        return self.policy(torch.relu(self.fc(h.flatten(1))))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Same as ``forward``; the interface :func:`envs.play` expects."""
        return self(obs)


def flat_log_policy(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], obs_shape: tuple[int, int, int]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a policy as the map the library differentiates: (N, d) -> (N, A).

    Parameters
    ----------
    logits_fn : callable
        Observations (N, 10, 10, C) to logits (N, A).
    obs_shape : tuple
        (10, 10, C); ``d = 100 C``.

    Returns
    -------
    callable
        ``x (N, d) -> log_softmax(logits_fn(x.reshape(N, 10, 10, C)))`` of shape (N, A).
    """

    def log_policy(x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits_fn(x.reshape(x.shape[0], *obs_shape)), dim=1)

    return log_policy


def kl_divergence(logp_teacher: torch.Tensor, logp_student: torch.Tensor) -> torch.Tensor:
    """Mean over states of KL(teacher || student) from log-probabilities (N, A)."""
    p = logp_teacher.exp()
    return (p * (logp_teacher - logp_student)).sum(1).mean()
