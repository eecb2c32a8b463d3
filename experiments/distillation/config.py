"""The distillation study's config, presets and preflight checks.

:class:`DistillationConfig` holds every option of the study (``sobolev run distillation
--set key=value``); its defaults are the shipped ``full`` preset. :func:`preflight`
checks what needs more than the config before any training: MinAtar installed, a
verified teacher per game, CUDA present when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from sobolev._validation import (
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_probability,
)
from sobolev_lab.config import StudyConfig, param

__all__ = ["METHODS", "PRESETS", "DistillationConfig", "preflight"]

METHODS = ("regular", "sobolev")


def _check_distinct(values: tuple, name: str) -> None:
    if not values:
        raise ValueError(f"{name} must not be empty")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat an entry, got {list(values)}")


@dataclass(frozen=True)
class DistillationConfig(StudyConfig):
    """Regular vs Sobolev distillation of the shipped PPO teachers on MinAtar.

    Per game, ``pool_size`` states are recorded from the teacher; per seed a random
    ``test_fraction`` of them is held out and the first ``fraction`` of the pool trains
    one student per method (same states, initialisation, minibatches and steps).
    """

    games: tuple[str, ...] = param(
        ["breakout", "space_invaders", "freeway"], "MinAtar games (each needs a teacher)"
    )
    methods: tuple[str, ...] = param(list(METHODS), "distillation methods: regular, sobolev")
    pool_size: int = param(10_000, "states recorded per game from its teacher (>= 100)")
    pool_seed: int = param(0, "seed of the environments and actions that record the pool")
    epsilon: float = param(0.05, "probability of a random action while recording the pool")
    fractions: tuple[float, ...] = param(
        [0.01, 0.05, 0.1, 0.5], "training fractions of the pool, each in (0, 1 - test_fraction]"
    )
    test_fraction: float = param(0.5, "share of the pool held out for scoring, in (0, 1)")
    seeds: int = param(3, "seeds 0..seeds-1: split, student init, minibatches, episodes")
    steps: int = param(500, "Adam steps per student")
    batch_size: int = param(128, "minibatch size (capped at the number of training states)")
    lr: float = param(1e-3, "Adam learning rate (constant)")
    sobolev_weight: Literal["auto"] | float = param(
        "auto", 'weight of the Jacobian term, or "auto": 1 / mean |J_teacher|_F^2'
    )
    side: Literal["input", "output"] = param(
        "input", "side of the random projection: input (J v, cheaper step) or output (u^T J)"
    )
    teacher_derivatives: Literal["precomputed", "autodiff"] = param(
        "precomputed", "teacher Jacobians computed once on the training states, or per step"
    )
    eval_every: int = param(25, "steps between points of the held-out KL curve")
    curve_states: int = param(2000, "held-out states (the first ones) scored for the curve")
    jacobian_states: int = param(500, "held-out states of the final Jacobian error (0: skip)")
    student_channels: int = param(8, "convolution channels of the student")
    student_hidden: int = param(64, "hidden units of the student's fully connected layer")
    episodes: int = param(6, "episodes per return measurement (per seed)")
    max_steps: int = param(2500, "cap on an episode's length")
    device: str = param("cpu", 'training device: "cpu" or "cuda[:k]"')
    teacher_dir: str | None = param(
        None, "folder with the teachers' manifest.json (default: shipped)"
    )

    def validate(self) -> None:
        from sobolev_lab.experiments.distillation.envs import check_game
        from sobolev_lab.experiments.distillation.pool import split_pool

        _check_distinct(self.games, "games")
        for game in self.games:
            check_game(game)
        _check_distinct(self.methods, "methods")
        for method in self.methods:
            check_choice(method, "methods", METHODS)
        _check_distinct(self.fractions, "fractions")
        for fraction in self.fractions:
            split_pool(10, fraction, test_fraction=self.test_fraction, seed=0)
        for key in (
            "seeds",
            "steps",
            "batch_size",
            "episodes",
            "max_steps",
            "eval_every",
            "curve_states",
            "student_channels",
            "student_hidden",
        ):
            check_positive_int(getattr(self, key), key)
        check_positive_int(self.pool_size, "pool_size", minimum=100)
        check_nonnegative_int(self.pool_seed, "pool_seed")
        check_nonnegative_int(self.jacobian_states, "jacobian_states")
        check_probability(self.epsilon, "epsilon")
        check_positive_float(self.lr, "lr")
        if self.sobolev_weight != "auto":
            check_nonnegative_float(self.sobolev_weight, 'sobolev_weight (or "auto")')
        check_choice(self.side, "side", ("input", "output"))
        check_choice(self.teacher_derivatives, "teacher_derivatives", ("precomputed", "autodiff"))
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f'device must be "cpu" or "cuda[:k]", got {self.device!r}') from exc
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f'device must be "cpu" or "cuda[:k]", got {self.device!r}')


def preflight(config: DistillationConfig) -> None:
    """Check MinAtar, every game's teacher (checksum) and the device before training.

    Raises
    ------
    ValueError
        MinAtar missing, a teacher missing or corrupt (naming the command that trains
        one), or CUDA asked for but not available.
    """
    from sobolev_lab.experiments.distillation.envs import require_minatar
    from sobolev_lab.experiments.distillation.teachers import TEACHER_DIR, load_teacher

    require_minatar()
    if torch.device(config.device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {config.device!r} asked for but CUDA is not available")
    for game in config.games:
        load_teacher(game, config.teacher_dir or TEACHER_DIR)


#: ``quick`` (one game, well under a minute) and ``full`` (the shipped result: the defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "games": ["breakout"],
        "pool_size": 1000,
        "fractions": [0.05, 0.5],
        "seeds": 1,
        "steps": 100,
        "episodes": 2,
        "max_steps": 300,
    },
    "full": {},
}
