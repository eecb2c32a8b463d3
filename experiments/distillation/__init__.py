"""Sobolev policy distillation on miniature Atari (MinAtar), paper Sec. 5.2.

A teacher policy (a small PPO-trained conv net per game, shipped in
:mod:`sobolev_lab.experiments.distillation.teachers`) is distilled into a smaller student from a
pool of recorded states. Regular distillation minimises KL(teacher || student) on the
action distributions; Sobolev distillation adds the first-order term matching the
input Jacobian of the policy's log-probabilities through one random projection per
state (stochastic Sobolev training, :class:`sobolev.SobolevLoss`).

Modules: :mod:`.envs` (games, seeding, playing episodes), :mod:`.teachers` (PPO,
shipped weights, checksummed loading), :mod:`.pool` (recording states),
:mod:`.student` (student net, losses), :mod:`.distill` (one training run),
:mod:`.study` (the grid, result files), :mod:`.cli` (``sobolev distill``).
"""
