"""Time per training step: value-only vs exact vs stochastic first-order Sobolev.

Measured side by side in one run, interleaved, with one torch thread; prints medians
and ratios to the value-only step. Usage::

    python benchmarks/bench_loss.py [--repeats 200] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import sobolev as sb


def make_step(model, x, target, loss):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss(model, x, target).backward()
        opt.step()

    return step


def bench_case(name, d, m, n, repeats, device, activation="relu"):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen).to(device)
    teacher = sb.MLP(d, m, (64,), "tanh", seed=1).to(device)
    y, J = sb.value_and_jacobian(teacher, x, create_graph=False)
    target = sb.Target.from_arrays(y, J)
    variants = {
        "value-only": sb.SobolevLoss(order=0),
        "exact order 1": sb.SobolevLoss(order=1),
        "stochastic order 1 (input, Jv)": sb.SobolevLoss(order=1, projections=1),
        "stochastic order 1 (output, u^T J)": sb.SobolevLoss(order=1, projections=1, side="output"),
    }
    steps = {
        k: make_step(sb.MLP(d, m, (256, 256), activation, seed=0).to(device), x, target, loss)
        for k, loss in variants.items()
    }
    times = {k: [] for k in steps}
    for step in steps.values():  # warm-up
        for _ in range(5):
            step()
    for _ in range(repeats):
        for k, step in steps.items():
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            if device == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["value-only"])
    print(f"\n({name}) {d}-256-256-{m} {activation} MLP, {n} points")
    print(f"{'loss':<38}{'ms/step':>10}{'x value-only':>14}")
    out = {}
    for k, ts in times.items():
        med = statistics.median(ts)
        out[k] = med
        print(f"{k:<38}{1e3 * med:>10.3f}{med / base:>14.2f}")
    exact = out["exact order 1"]
    for k in ("stochastic order 1 (input, Jv)", "stochastic order 1 (output, u^T J)"):
        print(f"exact / {k}: {exact / out[k]:.2f}x")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}")
    bench_case("a", 2, 1, 100, args.repeats, args.device)
    bench_case("b", 64, 10, 256, args.repeats, args.device)


if __name__ == "__main__":
    main()
