"""One distillation training: a student fitted to a teacher with early stopping.

Losses (per minibatch of flattened training states x, shape (B, d)):

* ``regular``: ``KL(teacher || student)`` on the action distributions.
* ``noise``: the same KL on the B states and on their ``copies`` (A, the number of
  actions) teacher-labelled perturbed copies ``x + noise_scale * N(0, I)``, drawn once
  per state before training, so the student sees ``B (1 + A)`` teacher outputs a step.
  This spends the teacher budget of Sobolev distillation on values instead (a Jacobian
  of the A log-probabilities costs about A teacher backward passes; to first order,
  matching on nearby inputs is what Jacobian matching encodes, Srinivas & Fleuret 2018).
* ``sobolev_input`` / ``sobolev_output``: the KL plus ``SobolevLoss(order=1, weights=[0,
  w1], projections=1, side=...)`` between the student's and the teacher's log-policy
  maps ``(B, d) -> (B, A)``. The library's value term gets weight 0: the value part of
  distillation is the KL. The input side compares ``J v`` (B, A) for one direction
  ``v`` per state drawn uniformly on the unit sphere of R^d, times ``d``; the output
  side ``u^T J`` (B, d) for ``u`` on the sphere of R^A, times ``A``; either is an
  unbiased estimate of ``|J_student - J_teacher|_F^2``. The input side uses the
  student's own forward-mode rule (:class:`~.student.StudentLogPolicy`); the output
  side needs the input gradient and its double backward (``benchmarks/bench_distill.py``).
  ``w1 = sobolev_weight / s1`` with ``s1`` the mean squared Frobenius norm of the
  teacher's log-policy Jacobian on (up to 1024 of) the training states, so a
  ``sobolev_weight`` of 1 starts the derivative term near 1 whatever the game's scale.

Every method minimises with AdamW (``weight_decay`` 0 is Adam) and evaluates the
held-out KL on the validation states every ``eval_every`` steps; training stops after
``patience`` evaluations without a better validation KL, and the student of the best
validation KL within the first ``steps`` steps is the one scored. ``budget`` (>=
``steps``) lets a training run longer, for the equal-wall-time reading of the curve.

Teacher derivatives (``teacher_derivatives``): ``"precomputed"`` (default) evaluates the
teacher's exact Jacobians on the training states once (``Target.from_arrays``);
``"autodiff"`` differentiates the teacher at every step. Both give the same loss up to
rounding (tested). The time of every teacher query before training (log-probabilities,
Jacobians, labels of the noisy copies) is part of the training's wall time.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from typing import Any

import torch

import sobolev as sb
from sobolev._training import minibatches
from sobolev._validation import (
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_int,
)
from sobolev_lab.experiments.distillation.config import METHODS
from sobolev_lab.experiments.distillation.envs import play
from sobolev_lab.experiments.distillation.student import (
    flat_log_policy,
    kl_divergence,
    make_student,
)
from sobolev_lab.stats import mean_sem

__all__ = [
    "METHODS",
    "Prepared",
    "distill",
    "policy_metrics",
    "student_return",
    "teacher_jacobians",
]


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
        with torch.enable_grad():
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
    direction.
    """
    if batch_size < n:
        return minibatches(n, batch_size, gen)
    return (torch.randperm(n, generator=gen) for _ in itertools.count())


class Prepared:
    """Teacher outputs shared by the trials of one cell, and the seconds they took.

    Parameters
    ----------
    teacher_logp : callable
        The teacher's log-policy map (N, d) -> (N, A).
    x_train, x_val, x_test : Tensor, shape (N_*, d)
    method : str
        One of :data:`METHODS`; Sobolev methods also get the training Jacobians.
    teacher_derivatives : {"precomputed", "autodiff"}

    Attributes
    ----------
    logp_train, logp_val, logp_test : Tensor, shape (N_*, A)
    target : sobolev.Target or None
        Sobolev methods only.
    jacobian_scale : float or None
        ``s1``, the mean squared Frobenius norm of the teacher's Jacobian on up to 1024
        training states (Sobolev methods only).
    seconds : float
        Time of the training-side teacher queries (training log-probabilities and, for
        Sobolev methods, Jacobians); validation and test labels are not counted.
    """

    def __init__(
        self,
        teacher_logp,
        x_train: torch.Tensor,
        x_val: torch.Tensor,
        x_test: torch.Tensor,
        method: str,
        teacher_derivatives: str = "precomputed",
    ) -> None:
        check_choice(method, "method", METHODS)
        check_choice(teacher_derivatives, "teacher_derivatives", ("precomputed", "autodiff"))
        self.teacher_logp = teacher_logp
        self.x_train, self.x_val, self.x_test = x_train, x_val, x_test
        with torch.no_grad():
            self.logp_val = teacher_logp(x_val)
            self.logp_test = teacher_logp(x_test)
        t0 = time.perf_counter()
        with torch.no_grad():
            self.logp_train = teacher_logp(x_train)
        self.target = None
        self.jacobian_scale = None
        if method.startswith("sobolev"):
            if teacher_derivatives == "precomputed":
                J_train = teacher_jacobians(teacher_logp, x_train)
                self.target = sb.Target.from_arrays(self.logp_train, J_train)
                J = J_train[:1024]
            else:
                self.target = sb.Target.from_function(teacher_logp)
                J = sb.value_and_jacobian(teacher_logp, x_train[:1024], create_graph=False)[1]
            self.jacobian_scale = float((J**2).sum((1, 2)).mean())
        self.seconds = time.perf_counter() - t0


def _noisy_copies(
    prep: Prepared, copies: int, scale: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``copies`` perturbed copies (N, copies, d) of each training state and their labels."""
    x = prep.x_train
    gen = torch.Generator().manual_seed(seed + 104_729)
    noise = torch.randn((x.shape[0], copies, x.shape[1]), generator=gen).to(x.device)
    xn = x[:, None, :] + scale * noise
    with torch.no_grad():
        logp = prep.teacher_logp(xn.reshape(-1, x.shape[1])).reshape(x.shape[0], copies, -1)
    return xn, logp


def distill(
    prep: Prepared,
    obs_shape: tuple[int, int, int],
    n_actions: int,
    *,
    method: str,
    steps: int,
    seed: int,
    budget: int | None = None,
    student: str = "conv",
    student_kwargs: dict[str, Any] | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    sobolev_weight: float = 1.0,
    noise_scale: float = 0.0,
    copies: int | None = None,
    eval_every: int = 25,
    patience: int = 10,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Distil the teacher of ``prep`` into a fresh student, with early stopping.

    Parameters
    ----------
    prep : Prepared
        Training, validation and test states with the teacher's outputs on them.
    obs_shape : tuple
        (10, 10, C).
    n_actions : int
    method : str
        One of :data:`METHODS` (see the module docstring).
    steps : int
        Step budget of the scored student (the best validation KL at or before it).
    seed : int
        Seeds the student's initialisation, minibatch order, projections and noise.
    budget : int, optional
        Steps the training may run (>= ``steps``; default ``steps``); the curve beyond
        ``steps`` serves the equal-wall-time reading only.
    student : {"conv", "mlp"}
    student_kwargs : dict, optional
        ``channels``, ``hidden``, ``mlp_hidden`` (:func:`~.student.make_student`).
    batch_size : int
        Capped at N_train (small training fractions use full batches).
    lr, weight_decay : float
        AdamW's learning rate and decoupled weight decay.
    sobolev_weight : float
        Multiple of ``1 / s1`` weighting the Jacobian term (Sobolev methods).
    noise_scale : float
        Standard deviation of the copies' Gaussian perturbation (``noise``).
    copies : int, optional
        Perturbed copies per training state (``noise``); default ``n_actions``.
    eval_every : int
        Steps between validation evaluations.
    patience : int
        Evaluations without a better validation KL before training stops.

    Returns
    -------
    student : nn.Module
        At its best validation KL within ``steps``, in eval mode.
    info : dict
        ``curve`` (lists ``step``, ``val_kl``, ``test_kl``, ``test_action_error``,
        ``train_loss`` and ``seconds``: wall time so far, teacher queries included,
        evaluations excluded; the test entries are None except at a new best
        validation KL), ``best_step`` and ``best_val_kl`` (within ``steps``),
        ``stopped_step``, ``early_stopped`` (by patience), ``diverged``,
        ``sobolev_weight`` (``w1`` used),
        ``prepare_seconds``, ``train_seconds`` (to ``stopped_step``) and
        ``seconds_per_step``.
    """
    check_choice(method, "method", METHODS)
    steps = check_positive_int(steps, "steps")
    budget = steps if budget is None else check_positive_int(budget, "budget")
    if budget < steps:
        raise ValueError(f"budget must be >= steps = {steps}, got {budget}")
    eval_every = check_positive_int(eval_every, "eval_every")
    patience = check_positive_int(patience, "patience")
    check_nonnegative_float(weight_decay, "weight_decay")
    check_nonnegative_float(sobolev_weight, "sobolev_weight")
    check_nonnegative_float(noise_scale, "noise_scale")
    copies = n_actions if copies is None else check_nonnegative_int(copies, "copies")
    x_train = prep.x_train
    d, device = x_train.shape[1], x_train.device
    prepare_seconds = prep.seconds
    if method == "noise":
        t0 = time.perf_counter()
        x_noisy, logp_noisy = _noisy_copies(prep, copies, noise_scale, seed)
        prepare_seconds += time.perf_counter() - t0
    teacher_logp = prep.teacher_logp
    torch.manual_seed(seed)
    net = make_student(student, obs_shape, n_actions, **(student_kwargs or {})).to(device)
    student_logp = flat_log_policy(net, obs_shape)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    w1, sobolev_loss = 0.0, None
    if method.startswith("sobolev"):
        s1 = prep.jacobian_scale
        w1 = sobolev_weight / s1 if s1 > 0 else sobolev_weight
        side = method.split("_")[1]
        sobolev_loss = sb.SobolevLoss(order=1, weights=[0.0, w1], projections=1, side=side)
    batch_gen = torch.Generator().manual_seed(seed)
    proj_gen = torch.Generator().manual_seed(seed + 7919)
    batches = _batches(len(x_train), min(batch_size, len(x_train)), batch_gen)
    keys = ("step", "val_kl", "test_kl", "test_action_error", "train_loss", "seconds")
    curve: dict[str, list[float]] = {k: [] for k in keys}
    best_val, best_step, best_state = math.inf, None, None
    overall_best, since_best, diverged, early_stopped, step = math.inf, 0, False, False, 0
    train_seconds = 0.0
    for step in range(1, budget + 1):
        t0 = time.perf_counter()
        idx = next(batches).to(device)
        x = x_train[idx]
        if sobolev_loss is not None:
            derivative_term = sobolev_loss(student_logp, x, prep.target[idx], generator=proj_gen)
            # SobolevLoss evaluated the student once at x; the KL reuses that forward pass.
            loss = kl_divergence(prep.logp_train[idx], sobolev_loss.output) + derivative_term
        elif method == "noise":
            xs = torch.cat([x, x_noisy[idx].reshape(-1, d)])
            lt = torch.cat([prep.logp_train[idx], logp_noisy[idx].reshape(-1, n_actions)])
            loss = kl_divergence(lt, student_logp(xs))
        else:
            loss = kl_divergence(prep.logp_train[idx], student_logp(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_seconds += time.perf_counter() - t0
        if step % eval_every and step != budget:
            continue
        value = float(loss.detach())
        with torch.no_grad():
            val_kl = float(kl_divergence(prep.logp_val, student_logp(prep.x_val)))
        if not (math.isfinite(value) and math.isfinite(val_kl)):
            diverged = True  # scored as +inf by the selection, never as a number
            break
        # Test scores are read only at a new best validation KL, the only checkpoints a
        # budget (in steps or seconds) can select; elsewhere the curve holds None.
        test = {"kl": None, "action_error": None}
        if val_kl < overall_best:
            test = policy_metrics(teacher_logp, student_logp, prep.x_test, 0, prep.logp_test)
        for k, v in zip(
            keys,
            (
                step,
                val_kl,
                test["kl"],
                test["action_error"],
                value,
                prepare_seconds + train_seconds,
            ),
            strict=True,
        ):
            curve[k].append(v)
        if step <= steps and val_kl < best_val:
            best_val, best_step = val_kl, step
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if val_kl < overall_best:
            overall_best, since_best = val_kl, 0
        else:
            since_best += 1
            if since_best >= patience:
                early_stopped = True
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    info = {
        "curve": curve,
        "best_step": best_step,
        "best_val_kl": best_val if best_step is not None else None,
        "stopped_step": step,
        "early_stopped": early_stopped,
        "diverged": diverged,
        "sobolev_weight": w1,
        "prepare_seconds": prepare_seconds,
        "train_seconds": train_seconds,
        "seconds_per_step": train_seconds / step,
    }
    return net.eval(), info


def student_return(
    student: torch.nn.Module, game: str, *, episodes: int, seed: int, max_steps: int
) -> dict[str, Any]:
    """Per-episode returns, their mean and standard error, actions sampled from the student."""
    device = next(student.parameters()).device
    r = play(student.logits, game, episodes=episodes, seed=seed, max_steps=max_steps, device=device)
    mean, sem = mean_sem(r, single=None)
    return {"returns": r.tolist(), "mean": mean, "sem": sem}
