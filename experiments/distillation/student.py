"""The student network and the two distillation losses.

Choice of the differentiated quantity: the Sobolev term matches the input Jacobian
of the **log-probabilities** ``log softmax(logits)`` (N, A) rather than of raw logits.
Logits are defined only up to a per-state additive constant, and so are their
Jacobians (a student whose logit Jacobian differs from the teacher's by ``1 g^T`` has
the same policy and policy Jacobian), so matching raw-logit Jacobians would penalise
differences that do not change the policy. Log-probabilities remove that freedom
(they equal logits centred by the log-partition function) and are the quantity the
KL is written in.

The student's log-policy map carries its own forward-mode rule (``value_and_jvp``,
used by ``sobolev.SobolevLoss`` on the input side): the network and its linearisation
at ``x`` run as one stacked batch, so the convolution's tangent is one more
convolution. Autodiff instead needs the convolution's input gradient and its double
backward, which on 10x10 frames is several times slower than the convolution itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "STUDENTS",
    "LogPolicy",
    "MLPStudent",
    "StudentLogPolicy",
    "StudentNet",
    "flat_log_policy",
    "kl_divergence",
    "make_student",
]

#: Student architectures: ``conv`` (a half-width copy of the teacher's conv stack) and
#: ``mlp`` (fully connected on the flattened frame, no convolution, unlike the teacher).
STUDENTS = ("conv", "mlp")


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

    def logits_and_jvp(
        self, obs: torch.Tensor, tangent: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, A) at ``obs`` and their derivative along ``tangent`` (B, A).

        ``obs`` and ``tangent`` have shape (B, 10, 10, C). The tangent goes through the
        same layers without biases, masked by the ReLU pattern at ``obs`` (ReLU'(0) = 0,
        as autograd), stacked with ``obs`` into one batch of 2B.
        """
        n = obs.shape[0]
        h = F.conv2d(torch.cat([obs, tangent]).permute(0, 3, 1, 2), self.conv.weight)
        h_x = h[:n] + self.conv.bias[:, None, None]
        on = h_x > 0
        z = F.linear(torch.cat([h_x * on, h[n:] * on]).flatten(1), self.fc.weight)
        z_x = z[:n] + self.fc.bias
        on = z_x > 0
        o = F.linear(torch.cat([z_x * on, z[n:] * on]), self.policy.weight)
        return o[:n] + self.policy.bias, o[n:]


class MLPStudent(nn.Module):
    """An MLP policy on the flattened frame: d -> ``hidden`` -> ``hidden`` -> A, ReLU.

    Not a scaled copy of the teacher (no convolution, no weight sharing), so a result
    that holds for both students is not an artefact of matching architectures.

    Parameters
    ----------
    obs_shape : tuple
        (10, 10, C); the input has ``d = 100 C`` units.
    n_actions : int
    hidden : int
        Width of both hidden layers.
    """

    def __init__(self, obs_shape: tuple[int, int, int], n_actions: int, hidden: int = 128):
        super().__init__()
        d = int(obs_shape[0] * obs_shape[1] * obs_shape[2])
        self.layers = nn.ModuleList([nn.Linear(d, hidden), nn.Linear(hidden, hidden)])
        self.policy = nn.Linear(hidden, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits (B, A) of observations (B, 10, 10, C)."""
        h = obs.flatten(1)
        for layer in self.layers:
            h = torch.relu(layer(h))
        return self.policy(h)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Same as ``forward``; the interface :func:`envs.play` expects."""
        return self(obs)

    def logits_and_jvp(
        self, obs: torch.Tensor, tangent: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, A) at ``obs`` and their derivative along ``tangent`` (B, A).

        As :meth:`StudentNet.logits_and_jvp`: primal and tangent as one stacked batch,
        the tangent without biases and masked by the ReLU pattern at ``obs``.
        """
        n = obs.shape[0]
        h = torch.cat([obs.flatten(1), tangent.flatten(1)])
        for layer in self.layers:
            z = F.linear(h, layer.weight)
            z_x = z[:n] + layer.bias
            on = z_x > 0
            h = torch.cat([z_x * on, z[n:] * on])
        o = F.linear(h, self.policy.weight)
        return o[:n] + self.policy.bias, o[n:]


def make_student(
    kind: str,
    obs_shape: tuple[int, int, int],
    n_actions: int,
    *,
    channels: int = 8,
    hidden: int = 64,
    mlp_hidden: int = 128,
) -> nn.Module:
    """A fresh student of architecture ``kind`` (see :data:`STUDENTS`)."""
    if kind == "conv":
        return StudentNet(obs_shape[2], n_actions, channels=channels, hidden=hidden)
    if kind == "mlp":
        return MLPStudent(obs_shape, n_actions, hidden=mlp_hidden)
    raise ValueError(f"student must be one of {', '.join(STUDENTS)}, got {kind!r}")


class LogPolicy:
    """A policy as the map the library differentiates: (N, d) -> (N, A) log-probabilities.

    Parameters
    ----------
    logits_fn : callable
        Observations (N, 10, 10, C) to logits (N, A).
    obs_shape : tuple
        (10, 10, C); ``d = 100 C``.
    """

    def __init__(
        self, logits_fn: Callable[[torch.Tensor], torch.Tensor], obs_shape: tuple[int, int, int]
    ) -> None:
        self.logits_fn = logits_fn
        self.obs_shape = tuple(obs_shape)

    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.obs_shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``log_softmax(logits_fn(x.reshape(N, 10, 10, C)))`` of shape (N, A)."""
        return torch.log_softmax(self.logits_fn(self._frames(x)), dim=1)


class StudentLogPolicy(LogPolicy):
    """:class:`LogPolicy` of a student with ``logits_and_jvp``: its own forward-mode rule."""

    def value_and_jvp(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (N, A) at ``x`` (N, d) and their derivative along ``v`` (N, d).

        The tangent of ``log_softmax`` at logits ``z`` along ``t`` is
        ``t - sum_a softmax(z)_a t_a``.
        """
        z, t = self.logits_fn.logits_and_jvp(self._frames(x), self._frames(v))
        logp = torch.log_softmax(z, dim=1)
        return logp, t - (logp.exp() * t).sum(1, keepdim=True)


def flat_log_policy(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], obs_shape: tuple[int, int, int]
) -> LogPolicy:
    """Wrap a policy as the map the library differentiates: (N, d) -> (N, A).

    Parameters
    ----------
    logits_fn : callable
        Observations (N, 10, 10, C) to logits (N, A); a student with
        ``logits_and_jvp`` (:class:`StudentNet`, :class:`MLPStudent`) gets a
        :class:`StudentLogPolicy` (with the forward-mode rule).
    obs_shape : tuple
        (10, 10, C); ``d = 100 C``.

    Returns
    -------
    LogPolicy
        ``x (N, d) -> log_softmax(logits_fn(x.reshape(N, 10, 10, C)))`` of shape (N, A).
    """
    if isinstance(logits_fn, StudentNet | MLPStudent):
        return StudentLogPolicy(logits_fn, obs_shape)
    return LogPolicy(logits_fn, obs_shape)


def kl_divergence(logp_teacher: torch.Tensor, logp_student: torch.Tensor) -> torch.Tensor:
    """Mean over states of KL(teacher || student) from log-probabilities (N, A)."""
    p = logp_teacher.exp()
    return (p * (logp_teacher - logp_student)).sum(1).mean()
