"""Cost of a Sobolev distillation step vs a regular one on MinAtar input.

One training step (student forward, loss, backward, Adam) of the distillation
student (conv 3x3 x8 -> FC 64 -> A logits) on a batch of 256 flattened Breakout states
(d = 400, A = 3), measured side by side (interleaved repeats, medians, one torch
thread):

* regular: KL(teacher || student) with the teacher's log-probabilities precomputed;
* sobolev, output side (``u^T J``), precomputed teacher Jacobians, KL sharing the
  student forward pass made inside SobolevLoss;
* the same with a separate forward pass for the KL;
* input side (``J v``), precomputed, by the student's own forward-mode rule
  (``StudentLogPolicy.value_and_jvp``: network and linearisation as one stacked
  batch), shared forward: the study's default (``distill.distill``);
* the same by autodiff (the double-VJP trick);
* output side, teacher differentiated by autodiff at every step, shared forward.

    python benchmarks/bench_distill.py [--repeats 100] [--batch 256]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import sobolev as sb
from sobolev_lab.experiments.distillation.distill import teacher_jacobians
from sobolev_lab.experiments.distillation.student import StudentNet, flat_log_policy, kl_divergence
from sobolev_lab.experiments.distillation.teachers import TeacherNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    shape, A = (10, 10, 4), 3
    teacher = TeacherNet(shape[2], A).eval().requires_grad_(False)
    t_logp = flat_log_policy(teacher.logits, shape)
    x = (torch.rand(args.batch, 400) < 0.1).float()  # Breakout frames are ~5% on
    lt = t_logp(x)
    target_arrays = sb.Target.from_arrays(lt, teacher_jacobians(t_logp, x))
    target_fn = sb.Target.from_function(t_logp)
    student = StudentNet(shape[2], A)
    s_logp = flat_log_policy(student, shape)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    out_side = sb.SobolevLoss(order=1, weights=[0.0, 1.0], projections=1, side="output")
    in_side = sb.SobolevLoss(order=1, weights=[0.0, 1.0], projections=1, side="input")

    def autodiff_logp(x):  # hides the student's forward-mode rule from the library
        return s_logp(x)

    def step(loss_fn=None, target=None, shared=True, model=s_logp):
        if loss_fn is None:
            loss = kl_divergence(lt, s_logp(x))
        elif shared:
            term = loss_fn(model, x, target, generator=gen)
            loss = kl_divergence(lt, loss_fn.output) + term
        else:
            loss = kl_divergence(lt, s_logp(x)) + loss_fn(model, x, target, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    cases = {
        "regular (KL)": lambda: step(),
        "sobolev, output side, precomputed J": lambda: step(out_side, target_arrays),
        "sobolev, output side, precomputed J, 2 forwards": lambda: step(
            out_side, target_arrays, shared=False
        ),
        "sobolev, input side, own JVP rule (default)": lambda: step(in_side, target_arrays),
        "sobolev, input side, precomputed J, autodiff": lambda: step(
            in_side, target_arrays, model=autodiff_logp
        ),
        "sobolev, output side, teacher by autodiff": lambda: step(out_side, target_fn),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(5):
        for f in cases.values():
            f()
    for _ in range(args.repeats):
        for name, f in cases.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["regular (KL)"])
    print(f"batch {args.batch}, d = 400, A = {A}, {args.repeats} interleaved repeats, 1 thread")
    print(f"{'case':<52}{'ms/step':>10}{'x regular':>12}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:<52}{1000 * m:>10.2f}{m / base:>12.2f}")


if __name__ == "__main__":
    main()
