"""One distillation run: train a student on recorded states, score it on held-out ones.

Losses (per minibatch of flattened states x, shape (B, d)):

* ``regular``: ``KL(teacher || student)`` on the action distributions.
* ``sobolev``: the same KL plus ``SobolevLoss(order=1, weights=[0, w1],
  projections=1, side=side)`` between the student's and the teacher's log-policy
  maps ``(B, d) -> (B, A)``. The library's value term (an L2 on outputs) gets weight
  0: the value part of distillation is the KL above. With ``side="input"`` (default)
  the derivative term compares ``J v`` (B, A) for one direction ``v`` per state drawn
  uniformly on the unit sphere of R^d, times ``d``; with ``side="output"`` it compares
  ``u^T J`` (B, d) for ``u`` on the sphere of R^A, times ``A``. Either way it is an
  unbiased estimate of ``|J_student - J_teacher|_F^2``. The input side is the
  default because it is the cheaper step: the student's log-policy supplies its own
  forward-mode rule (:class:`~experiments.distillation.student.StudentLogPolicy`),
  about 2.1x a regular step against 2.6x for the output side, which needs the
  convolution's input gradient and its double backward (``benchmarks/bench_distill.py``).
  The output side's estimate has lower variance (A = 3..6 directions instead of
  d = 400..700).

Teacher derivatives (``teacher_derivatives``): ``"precomputed"`` (default) evaluates
the teacher's exact log-policy Jacobians on the training states once
(``Target.from_arrays(logp, J)``, minibatches by ``target[idx]``), since the teacher
and the states are fixed; ``"autodiff"`` passes the teacher itself
(``Target.from_function``) and differentiates it at every step. Both give the same
loss up to rounding (tested); precomputing makes the Sobolev step cheaper (a regular
step also uses precomputed teacher log-probabilities). The KL of a Sobolev step
reuses the student forward pass made inside ``SobolevLoss`` (``SobolevLoss.output``).

``w1`` (``sobolev_weight``) is either a number or ``"auto"``: ``1 / s1`` with ``s1`` the
mean squared Frobenius norm of the teacher's log-policy Jacobian on (up to 1024 of)
the training states, so the derivative term starts near 1 whatever the game's scale.
It is computed from training states only.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

import sobolev as sb
from sobolev._training import minibatches
from sobolev._validation import check_choice, check_nonnegative_float, check_positive_int
from sobolev_lab.experiments.distillation.config import METHODS
from sobolev_lab.experiments.distillation.envs import play
from sobolev_lab.experiments.distillation.student import StudentNet, flat_log_policy, kl_divergence
from sobolev_lab.stats import mean_sem

__all__ = ["METHODS", "distill", "policy_metrics", "student_return", "teacher_jacobians"]


@torch.no_grad()
def policy_metrics(
    teacher_logp,
    student_logp,
    x: torch.Tensor,
    jacobian_states: int = 0,
    logp_teacher: torch.Tensor | None = None,
) -> dict[str, float]:
    """KL(teacher || student), argmax disagreement and, optionally, Jacobian error.

    Parameters
    ----------
    teacher_logp, student_logp : callable
        Log-policy maps (N, d) -> (N, A).
    x : Tensor, shape (N, d)
        Held-out states.
    jacobian_states : int
        If > 0, also ``jacobian_rel_error``: sum |J_s - J_t|_F^2 / sum |J_t|_F^2 over
        the first ``jacobian_states`` states (exact Jacobians).
    logp_teacher : Tensor, shape (N, A), optional
        ``teacher_logp(x)`` if already computed.
    """
    lt = teacher_logp(x) if logp_teacher is None else logp_teacher
    ls = student_logp(x)
    out = {
        "kl": float(kl_divergence(lt, ls)),
        "action_error": float((lt.argmax(1) != ls.argmax(1)).double().mean()),
    }
    if jacobian_states > 0:
        xs = x[:jacobian_states]
        Jt = sb.value_and_jacobian(teacher_logp, xs, create_graph=False)[1]
        Js = sb.value_and_jacobian(student_logp, xs, create_graph=False)[1]
        out["jacobian_rel_error"] = float(((Js - Jt) ** 2).sum() / (Jt**2).sum())
    return out


def teacher_jacobians(teacher_logp, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Exact Jacobians (N, A, d) of the teacher's log-policy at states ``x`` (N, d)."""
    return torch.cat(
        [
            sb.value_and_jacobian(teacher_logp, x[s : s + batch_size], create_graph=False)[1]
            for s in range(0, len(x), batch_size)
        ]
    )


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless minibatch indices (``batch_size <= n``), reshuffled every epoch.

    Below ``n`` these are the library's draws (:func:`sobolev._training.minibatches`).
    A full batch is a fresh permutation every step rather than the library's ``None``:
    the projections are drawn row by row, so the order decides which state gets which
    direction, and the shipped results were computed with these permutations.
    """
    if batch_size < n:
        return minibatches(n, batch_size, gen)
    return (torch.randperm(n, generator=gen) for _ in itertools.count())


def distill(
    teacher: torch.nn.Module,
    obs_shape: tuple[int, int, int],
    n_actions: int,
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    *,
    method: str,
    steps: int,
    seed: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    sobolev_weight: float | str = "auto",
    eval_every: int = 100,
    curve_states: int = 2000,
    jacobian_states: int = 500,
    student_kwargs: dict[str, Any] | None = None,
    side: str = "input",
    teacher_derivatives: str = "precomputed",
) -> tuple[StudentNet, dict[str, Any]]:
    """Distil ``teacher`` into a fresh :class:`StudentNet` on ``x_train``.

    Parameters
    ----------
    teacher : nn.Module
        Has ``logits(obs)`` (B, 10, 10, C) -> (B, A); frozen.
    obs_shape : tuple
        (10, 10, C).
    n_actions : int
    x_train : Tensor, shape (N_train, d)
        Flattened training states on the device to train on.
    x_test : Tensor, shape (N_test, d)
        Flattened held-out states.
    method : {"regular", "sobolev"}
    steps : int
        Adam steps.
    seed : int
        Seeds the student's initialisation, minibatch order and projections.
    batch_size : int
        Capped at N_train (small training fractions use full batches).
    lr : float
    sobolev_weight : float or "auto"
        ``w1`` (see the module docstring); ignored by ``regular``.
    eval_every : int
        Steps between points of the test-KL curve.
    curve_states : int
        Held-out states (the first ones) scored for the curve; final metrics use all.
    jacobian_states : int
        Held-out states used for the final Jacobian error (0: skip).
    student_kwargs : dict, optional
        ``channels`` and ``hidden`` of the student.
    side : {"output", "input"}
        Where the random projection acts (see the module docstring).
    teacher_derivatives : {"precomputed", "autodiff"}
        How the teacher's Jacobians are obtained (see the module docstring).

    Returns
    -------
    student : StudentNet
    info : dict
        ``curve`` (``step``, ``test_kl``, ``train_loss`` lists), ``test`` metrics,
        ``sobolev_weight`` used, ``seconds`` and ``seconds_per_step``.
    """
    check_choice(method, "method", METHODS)
    steps = check_positive_int(steps, "steps")
    check_choice(side, "side", ("output", "input"))
    check_choice(teacher_derivatives, "teacher_derivatives", ("precomputed", "autodiff"))
    d = int(np.prod(obs_shape))
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if x.ndim != 2 or x.shape[1] != d or x.shape[0] < 1:
            raise ValueError(f"{name} must have shape (N, {d}), got {tuple(x.shape)}")
    device = x_train.device
    teacher_logp = flat_log_policy(teacher.logits, obs_shape)
    torch.manual_seed(seed)
    student = StudentNet(obs_shape[2], n_actions, **(student_kwargs or {})).to(device)
    student_logp = flat_log_policy(student, obs_shape)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    with torch.no_grad():
        logp_train = teacher_logp(x_train)  # KL targets, computed once
        logp_test = teacher_logp(x_test)
    w1 = 0.0
    sobolev_loss = None
    target = None
    if method == "sobolev":
        if teacher_derivatives == "precomputed":
            J_train = teacher_jacobians(teacher_logp, x_train)
            target = sb.Target.from_arrays(logp_train, J_train)
            J = J_train[:1024]
        else:
            target = sb.Target.from_function(teacher_logp)
            J = sb.value_and_jacobian(teacher_logp, x_train[:1024], create_graph=False)[1]
        if sobolev_weight == "auto":
            s1 = float((J**2).sum((1, 2)).mean())
            w1 = 1.0 / s1 if s1 > 0 else 1.0
        else:
            w1 = check_nonnegative_float(sobolev_weight, 'sobolev_weight (a number or "auto")')
        sobolev_loss = sb.SobolevLoss(order=1, weights=[0.0, w1], projections=1, side=side)
    batch_gen = torch.Generator().manual_seed(seed)
    proj_gen = torch.Generator().manual_seed(seed + 7919)
    batches = _batches(len(x_train), min(batch_size, len(x_train)), batch_gen)
    curve: dict[str, list[float]] = {"step": [], "test_kl": [], "train_loss": []}
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        idx = next(batches).to(device)
        x = x_train[idx]
        if sobolev_loss is None:
            loss = kl_divergence(logp_train[idx], student_logp(x))
        else:
            derivative_term = sobolev_loss(student_logp, x, target[idx], generator=proj_gen)
            # SobolevLoss evaluated the student once at x; the KL reuses that forward pass.
            loss = kl_divergence(logp_train[idx], sobolev_loss.output) + derivative_term
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            value = float(loss.detach())
            if not np.isfinite(value):
                raise FloatingPointError(f"{method} distillation diverged at step {step}")
            curve["step"].append(step)
            curve["train_loss"].append(value)
            curve["test_kl"].append(
                policy_metrics(
                    teacher_logp,
                    student_logp,
                    x_test[:curve_states],
                    logp_teacher=logp_test[:curve_states],
                )["kl"]
            )
    seconds = time.perf_counter() - t0
    test = policy_metrics(
        teacher_logp, student_logp, x_test, jacobian_states, logp_teacher=logp_test
    )
    info = {
        "curve": curve,
        "test": test,
        "sobolev_weight": w1,
        "seconds": seconds,
        "seconds_per_step": seconds / steps,
    }
    return student.eval(), info


def student_return(
    student: StudentNet, game: str, *, episodes: int, seed: int, max_steps: int
) -> dict[str, float]:
    """Mean and standard error of the student's return, actions sampled from it."""
    device = next(student.parameters()).device
    r = play(student.logits, game, episodes=episodes, seed=seed, max_steps=max_steps, device=device)
    mean, sem = mean_sem(r, single=None)
    return {"mean": mean, "sem": sem}
