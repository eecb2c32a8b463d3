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
from sobolev_lab.protocol import Budget

__all__ = ["METHODS", "PRESETS", "DistillationConfig", "preflight"]

#: Distillation methods (:mod:`.distill`): the value-only baseline, the noise-augmented
#: baseline with the Sobolev run's teacher budget, and Sobolev distillation with input-side
#: and output-side random projections.
METHODS = ("regular", "noise", "sobolev_input", "sobolev_output")

#: The config field holding each method's tuning grid (one hyperparameter per method).
GRIDS = {
    "regular": "weight_decays",
    "noise": "noise_scales",
    "sobolev_input": "sobolev_weights",
    "sobolev_output": "sobolev_weights",
}


def _check_distinct(values: tuple, name: str) -> None:
    if not values:
        raise ValueError(f"{name} must not be empty")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat an entry, got {list(values)}")


@dataclass(frozen=True)
class DistillationConfig(StudyConfig):
    """Distillation of the shipped PPO teachers on MinAtar against tuned baselines.

    Per game, ``pool_size`` states are recorded from the teacher in ``pool_envs``
    parallel episodes; per seed, whole episodes go to the test, validation and training
    sides, and ``fraction`` of the pool (from training episodes) trains one student per
    (student architecture, method). Each method tries the same number of
    hyperparameters (its grid), chosen by the validation KL with early stopping.
    """

    games: tuple[str, ...] = param(
        ["breakout", "space_invaders", "freeway"], "MinAtar games (each needs a teacher)"
    )
    methods: tuple[str, ...] = param(
        list(METHODS), "methods: regular, noise, sobolev_input, sobolev_output"
    )
    students: tuple[str, ...] = param(["conv", "mlp"], "student architectures: conv, mlp")
    pool_size: int = param(10_000, "states recorded per game from its teacher (>= 100)")
    pool_seed: int = param(0, "seed of the environments and actions that record the pool")
    pool_envs: int = param(32, "environments stepped side by side while recording (episodes)")
    epsilon: float = param(0.05, "probability of a random action while recording the pool")
    fractions: tuple[float, ...] = param(
        [0.01, 0.05, 0.1, 0.5],
        "training states as fractions of the pool, each in (0, 1 - val_fraction - test_fraction]",
    )
    val_fraction: float = param(0.1, "share of the pool (whole episodes) for validation")
    test_fraction: float = param(0.3, "share of the pool (whole episodes) held out for scoring")
    seeds: int = param(5, "seeds 0..seeds-1: split, student init, minibatches, episodes")
    steps: int = param(400, "step budget of every scored student (early stopping inside it)")
    budget_factor: float = param(
        2.5, "regular students may run budget_factor x steps, for the equal-wall-time reading"
    )
    batch_size: int = param(128, "minibatch size (capped at the number of training states)")
    lr: float = param(3e-3, "AdamW learning rate (constant, every method)")
    eval_every: int = param(20, "steps between validation evaluations")
    patience: int = param(6, "evaluations without a better validation KL before stopping")
    weight_decays: tuple[float, ...] = param(
        [0.0, 0.3, 3.0], "regular: AdamW weight decays tried (the tuning grid)"
    )
    noise_scales: tuple[float, ...] = param(
        [0.1, 0.3, 1.0], "noise: standard deviations of the perturbed copies tried"
    )
    sobolev_weights: tuple[float, ...] = param(
        [0.3, 1.0, 3.0], "Sobolev: Jacobian weights tried, as multiples of 1 / mean |J_teacher|_F^2"
    )
    teacher_derivatives: Literal["precomputed", "autodiff"] = param(
        "precomputed", "teacher Jacobians computed once on the training states, or per step"
    )
    jacobian_states: int = param(500, "test states of the final Jacobian error (0: skip)")
    student_channels: int = param(8, "conv student: convolution channels (teacher: 16)")
    student_hidden: int = param(64, "conv student: fully connected units (teacher: 128)")
    mlp_hidden: int = param(128, "mlp student: units of each of its two hidden layers")
    episodes: int = param(16, "episodes per return measurement (per seed)")
    max_steps: int = param(2500, "cap on an episode's length")
    device: str = param("cpu", 'training device: "cpu" or "cuda[:k]"')
    teacher_dir: str | None = param(
        None, "folder with the teachers' manifest.json (default: shipped)"
    )

    def validate(self) -> None:
        from sobolev_lab.experiments.distillation.envs import check_game
        from sobolev_lab.experiments.distillation.student import STUDENTS

        _check_distinct(self.games, "games")
        for game in self.games:
            check_game(game)
        _check_distinct(self.methods, "methods")
        for method in self.methods:
            check_choice(method, "methods", METHODS)
        _check_distinct(self.students, "students")
        for student in self.students:
            check_choice(student, "students", STUDENTS)
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            check_probability(value, key)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{key} must lie in (0, 1), got {value!r}")
        top = 1.0 - self.val_fraction - self.test_fraction
        if round(top, 12) <= 0:
            raise ValueError(
                f"val_fraction + test_fraction must be below 1, got "
                f"{self.val_fraction + self.test_fraction:g}"
            )
        _check_distinct(self.fractions, "fractions")
        for fraction in self.fractions:
            check_positive_float(fraction, "fractions")
            if fraction > top:
                raise ValueError(
                    f"fractions must lie in (0, 1 - val_fraction - test_fraction] = "
                    f"(0, {top:g}], got {fraction!r}"
                )
        for key in (
            "seeds",
            "steps",
            "batch_size",
            "episodes",
            "max_steps",
            "eval_every",
            "patience",
            "pool_envs",
            "student_channels",
            "student_hidden",
            "mlp_hidden",
        ):
            check_positive_int(getattr(self, key), key)
        check_positive_int(self.pool_size, "pool_size", minimum=100)
        check_nonnegative_int(self.pool_seed, "pool_seed")
        check_nonnegative_int(self.jacobian_states, "jacobian_states")
        check_probability(self.epsilon, "epsilon")
        check_positive_float(self.lr, "lr")
        check_positive_float(self.budget_factor, "budget_factor")
        if self.budget_factor < 1.0:
            raise ValueError(f"budget_factor must be >= 1, got {self.budget_factor!r}")
        if 4 * self.eval_every > self.steps:
            raise ValueError(
                f"eval_every ({self.eval_every}) must be at most steps / 4 so that the "
                "convergence rule sees the last quarter of the budget"
            )
        for key in sorted(set(GRIDS.values())):
            _check_distinct(getattr(self, key), key)
            for value in getattr(self, key):
                check_nonnegative_float(value, key)
        # Equal tuning budgets: every method tries the same number of configurations.
        Budget(len(self.weight_decays)).check({m: self.trials(m) for m in self.methods})
        check_choice(self.teacher_derivatives, "teacher_derivatives", ("precomputed", "autodiff"))
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f'device must be "cpu" or "cuda[:k]", got {self.device!r}') from exc
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f'device must be "cpu" or "cuda[:k]", got {self.device!r}')

    def trials(self, method: str) -> list[dict[str, float]]:
        """The hyperparameter configurations ``method`` tries (its tuning grid)."""
        key = GRIDS[method]
        name = {"weight_decays": "weight_decay", "noise_scales": "noise_scale"}.get(
            key, "sobolev_weight"
        )
        return [{name: float(v)} for v in getattr(self, key)]


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


#: ``quick`` (one game, one seed, well under a minute) and ``full`` (the defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "games": ["breakout"],
        "pool_size": 600,
        "pool_envs": 16,
        "fractions": [0.05, 0.5],
        "seeds": 1,
        "steps": 40,
        "budget_factor": 2.0,
        "eval_every": 10,
        "patience": 3,
        "weight_decays": [0.0, 3.0],
        "noise_scales": [0.1, 0.3],
        "sobolev_weights": [0.3, 1.0],
        "jacobian_states": 50,
        "episodes": 2,
        "max_steps": 100,
    },
    "full": {},
}
