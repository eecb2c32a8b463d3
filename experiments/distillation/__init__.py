"""Sobolev policy distillation on miniature Atari (MinAtar), paper Sec. 5.2.

A teacher policy (a small PPO-trained conv net per game, shipped in
:mod:`sobolev_lab.experiments.distillation.teachers`) is distilled into a smaller student from a
pool of recorded states, split by episode into training, validation and test states.
Regular distillation minimises KL(teacher || student) on the action distributions;
the noise-augmented baseline also fits the teacher on perturbed copies of the training
states; Sobolev distillation adds the first-order term matching the input Jacobian of
the policy's log-probabilities through one random projection per state (stochastic
Sobolev training, :class:`sobolev.SobolevLoss`). Every method is tuned on the
validation states with the same number of trials and early stopping.

Run it with ``sobolev run distillation --preset quick|full``; teachers with
``sobolev teachers list|train``.

Modules: :mod:`.config` (options, presets, preflight checks), :mod:`.envs` (games,
seeding, playing episodes), :mod:`.teachers` (PPO, shipped weights, checksummed
loading), :mod:`.pool` (recording states), :mod:`.student` (student net, losses),
:mod:`.distill` (one training run), :mod:`.study` (cells and ``STUDY``),
:mod:`.summary` (rows, verdicts, tables), :mod:`.cli` (``sobolev teachers``).
"""

from sobolev_lab.experiments.distillation.study import STUDY

__all__ = ["STUDY"]
