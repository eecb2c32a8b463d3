"""Regression-study workload: vectorised ensemble vs a sequential loop of sb.fit.

Measured side by side in one run, one torch thread: the trainings of one study cell
(Styblinski-Tang, ``--seeds`` seeds, regular and Sobolev, 2-256-256-1 ReLU MLP,
full-batch Adam, float32) for each training-set size, once as two
:func:`sobolev.fit_ensemble` calls (one per loss order) and once as a plain
loop of ``sb.fit(sb.MLP(..., seed=s), ...)``, same data, same initial weights. Also
measures the machine's float32 matmul peak (2048 x 2048, one thread) and reports the
achieved matmul GFLOP/s of *both* paths against it (the same analytic FLOP count for
both: forward, Jacobian pass and backward = twice their products; Adam and elementwise
work not counted, so the figures are lower bounds on useful work).

Since both paths do the same matmul work, no implementation can beat the sequential
loop by more than ``peak / sequential GFLOP/s``: the *speed-up bound*. Two bounds are
printed: against the 2048 x 2048 peak, and against the throughput of the workload's
own dominant product (a batched (E, n, 256) x (E, 256, 256) matmul, ``E`` = seeds),
which small ``n`` cannot run at the large-matrix peak.

Usage::

    .venv/bin/python benchmarks/bench_regression.py [--steps 200] [--seeds 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import sobolev as sb

H = 256


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Float32 GFLOP/s of a large square matmul on one thread (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def bmm_peak(members: int, n: int, repeats: int = 20) -> float:
    """Float32 GFLOP/s of the ensemble's hidden product: (E, n, H) x (E, H, H), one thread."""
    a, b = torch.randn(members, n, H), torch.randn(members, H, H)
    torch.bmm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(10):
            torch.bmm(a, b)
        best = min(best, (time.perf_counter() - t0) / 10)
    return 2 * members * n * H * H / best / 1e9


def step_flops(n: int, d: int, order: int) -> float:
    """Matmul FLOPs of one training step of one 2-H-H-1 member on ``n`` points."""
    forward = 2 * n * (d * H + H * H + H)
    jacobian = 2 * n * (H * H + H * d) if order else 0
    # Backward: weight and input gradients of each product, none for the input x.
    backward = 2 * (forward + jacobian) - 2 * n * d * H
    return forward + jacobian + backward


def data(n: int, seeds: list[int]):
    from sobolev_lab.theory.functions import get

    f = get("styblinski_tang")
    lo, hi = (np.asarray(b) for b in f.domain)
    c, r = (lo + hi) / 2, (hi - lo) / 2
    xs = [f.sample(n, rng=np.random.default_rng([s, n, 0])) for s in seeds]
    ys = [f.value(x) for x in xs]
    gs = [f.grad(x) for x in xs]
    u = np.stack([(x - c) / r for x in xs])
    mu = np.array([y.mean() for y in ys])[:, None]
    sd = np.array([y.std() for y in ys])[:, None]
    v = (np.stack(ys) - mu) / sd
    dv = np.stack(gs) * r / sd[:, :, None]
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return as_t(u), as_t(v), as_t(dv)


def bench_ensemble(u, v, dv, seeds, steps, lr):
    t0 = time.perf_counter()
    losses = []
    for order in (0, 1):
        ens = sb.MLPEnsemble.from_seeds(2, 1, (H, H), "relu", seeds)
        hist = sb.fit_ensemble(
            ens, u, v, dv, weights=(1.0, float(order)), steps=steps, lr=lr,
            schedule="cosine", progress=False,
        )  # fmt: skip
        losses.append(hist["total"][-1])
    return time.perf_counter() - t0, np.concatenate(losses)


def bench_sequential(u, v, dv, seeds, steps, lr):
    t0 = time.perf_counter()
    losses = []
    for order in (0, 1):
        for e, s in enumerate(seeds):
            model = sb.MLP(2, 1, (H, H), "relu", seed=s)
            hist = sb.fit(
                model, u[e], sb.Target.from_arrays(v[e], dv[e]),
                loss=sb.SobolevLoss(order=order), steps=steps, lr=lr, schedule="cosine",
                progress=False,
            )  # fmt: skip
            losses.append(hist["total"][-1])
    return time.perf_counter() - t0, np.array(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    peak = matmul_peak()
    print(f"float32 matmul peak, 1 thread: {peak:.1f} GFLOP/s")
    print(
        f"{args.seeds} seeds x (regular + Sobolev), {args.steps} full-batch Adam steps, "
        "2-256-256-1 ReLU, float32"
    )
    print(
        "| n | sequential sb.fit [s] | ensemble [s] | speed-up | sequential GFLOP/s (% of peak) "
        "| ensemble GFLOP/s (% of peak) | speed-up bound: peak / sequential "
        "| bmm (E, n, 256)x(E, 256, 256) GFLOP/s | bound: bmm / sequential "
        "| max rel. loss diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        u, v, dv = data(n, seeds)
        bench_ensemble(u[:, :2], v[:, :2], dv[:, :2], seeds, 5, args.lr)  # warm-up
        t_seq, l_seq = bench_sequential(u, v, dv, seeds, args.steps, args.lr)
        t_ens, l_ens = bench_ensemble(u, v, dv, seeds, args.steps, args.lr)
        bmm = bmm_peak(len(seeds), n)
        flops = args.steps * len(seeds) * (step_flops(n, 2, 0) + step_flops(n, 2, 1))
        g_seq, g_ens = flops / t_seq / 1e9, flops / t_ens / 1e9
        diff = float(np.max(np.abs(l_seq - l_ens) / np.maximum(np.abs(l_seq), 1e-12)))
        print(
            f"| {n} | {t_seq:.2f} | {t_ens:.2f} | {t_seq / t_ens:.2f}x "
            f"| {g_seq:.1f} ({100 * g_seq / peak:.0f}%) | {g_ens:.1f} ({100 * g_ens / peak:.0f}%) "
            f"| {peak / g_seq:.2f}x | {bmm:.1f} | {bmm / g_seq:.2f}x | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
