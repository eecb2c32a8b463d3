"""One regression-protocol member stack: cost of weight decay and of stopped members.

The regression protocol trains stacks of ``E`` members (configs x folds x seeds) with
:func:`sobolev.ensemble.fit_ensemble`: 2-256-256-1 ReLU, 16 training and 4 held-out
points per member, values only (the ``regular`` method), Adam, up to ``--steps`` steps,
held-out evaluation every 25 steps, patience 8, float32, per-member L2 decay (half the
members 0, half 1e-4). Measured side by side in one run, one torch thread:

1. *Early-stopped stack*: the same stack (same data, initial weights and decay) with
   ``compact=False`` (every member computed until the last one stops) and
   ``compact=True`` (stopped members left out once at least half of those computed
   have stopped). Prints both wall times, the steps the stack ran, the distribution of
   ``stopped_step`` and ``best_step``, the member-steps computed, and checks that both
   runs restored the same parameters and stop steps.
2. *Cost of the decay*: ``--decay-steps`` steps without early stopping, without decay
   and with it, in ``fit_ensemble`` (decay added to the gradients) and in a hand loop
   of the former implementation (``0.5 wd_e |theta_e|^2`` added to the autograd loss)
   against the same hand loop without decay.

Usage::

    .venv/bin/python benchmarks/bench_protocol_stack.py [--members 100] [--steps 2000] \
        [--decay-steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sobolev._training import EarlyStopping
from sobolev.ensemble import MLPEnsemble, _member_losses, fit_ensemble

HIDDEN = (256, 256)


def smooth_targets(members: int, n: int, n_val: int, seed: int = 0):
    """Per member, a random sum of 3 sinusoids on [-1, 1]^2, standardised on its data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(members, n + n_val, 2, generator=g) * 2 - 1
    freq = torch.randn(members, 3, 2, generator=g) * 1.5
    phase = torch.rand(members, 3, generator=g) * 2 * torch.pi
    amp = torch.randn(members, 3, generator=g)
    y = (amp[:, None] * torch.sin(x @ freq.transpose(1, 2) + phase[:, None])).sum(-1)
    y = (y - y[:, :n].mean(1, keepdim=True)) / y[:, :n].std(1, keepdim=True)
    return x[:, :n], y[:, :n, None], x[:, n:], y[:, n:, None]


def stack_run(args, data, compact: bool):
    x, y, xv, yv = data
    ens = MLPEnsemble.from_seeds(2, 1, HIDDEN, "relu", range(args.members))
    wd = np.where(np.arange(args.members) < args.members // 2, 0.0, 1e-4)
    kept = []  # (evaluation step, members still computed after it)
    real = EarlyStopping.track

    def track(self, live, members):
        kept.append((self.val_step[-1], int(members.numel())))
        real(self, live, members)

    EarlyStopping.track = track
    try:
        t0 = time.perf_counter()
        hist = fit_ensemble(
            ens, x, y, None, weights=(1.0, 0.0), steps=args.steps, lr=args.lr,
            progress=False, validation=(xv, yv), eval_every=25, patience=8,
            weight_decay=wd, compact=compact,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
    finally:
        EarlyStopping.track = real
    ran = hist["total"].shape[0]
    # Member-steps computed: all members until the first compaction, then the rest.
    member_steps, start, computed = 0, 0, args.members
    for step, n in kept:
        member_steps += computed * (step - start)
        start, computed = step, n
    member_steps += computed * (ran - start)
    return seconds, hist, ens, member_steps, kept


def old_decay_loop(ens, x, y, wd, steps, lr, decay: bool) -> float:
    """The former fit_ensemble step (full batch): decay as a penalty in the loss."""
    params = list(ens.parameters())
    opt = torch.optim.Adam(params, lr=lr, fused=True)
    w0, w1 = torch.ones(ens.n_members), torch.zeros(ens.n_members)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        total = _member_losses(ens, x, y, None, w0, w1)[0]
        if decay:
            total = total + 0.5 * wd * sum(p.pow(2).flatten(1).sum(1) for p in params)
        total.sum().backward()
        opt.step()
    return time.perf_counter() - t0


def decay_costs(args, data) -> dict[str, float]:
    """Median seconds of each variant over ``--repeats`` interleaved rounds."""
    x, y, _, _ = data
    wd = torch.where(torch.arange(args.members) < args.members // 2, 0.0, 1e-4)
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for path, decay in (("fit_ensemble", False), ("fit_ensemble", True),
                            ("old loop", False), ("old loop", True)):  # fmt: skip
            ens = MLPEnsemble.from_seeds(2, 1, HIDDEN, "relu", range(args.members))
            name = f"{path}, {'decay' if decay else 'no decay'}"
            if path == "fit_ensemble":
                t0 = time.perf_counter()
                fit_ensemble(
                    ens, x, y, None, weights=(1.0, 0.0), steps=args.decay_steps, lr=args.lr,
                    progress=False, weight_decay=wd if decay else 0.0,
                )  # fmt: skip
                sec = time.perf_counter() - t0
            else:
                sec = old_decay_loop(ens, x, y, wd, args.decay_steps, args.lr, decay)
            times.setdefault(name, []).append(sec)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--decay-steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians)")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = smooth_targets(args.members, 16, 4)
    print(f"{args.members} members, 2-256-256-1 relu, n = 16 (+4 held out), float32, "
          f"steps {args.steps}, eval_every 25, patience 8, lr {args.lr:g}")  # fmt: skip

    # Warm-up (allocations, kernels), not timed.
    warm = argparse.Namespace(**{**vars(args), "steps": 10})
    stack_run(warm, data, True)

    res, secs = {}, {False: [], True: []}
    for _ in range(args.repeats):
        for compact in (False, True):
            res[compact] = stack_run(args, data, compact)
            secs[compact].append(res[compact][0])
    (_, h_off, e_off, ms_off, _), (_, h_on, e_on, ms_on, kept) = res[False], res[True]
    t_off, t_on = float(np.median(secs[False])), float(np.median(secs[True]))
    ran = h_off["total"].shape[0]
    stop, best = h_off["stopped_step"], h_off["best_step"]
    q = [0, 25, 50, 75, 100]
    print(f"\nstack ran {ran} steps (compact=True: {h_on['total'].shape[0]})")
    print("stopped_step percentiles 0/25/50/75/100:", np.percentile(stop, q).astype(int).tolist())
    print("best_step    percentiles 0/25/50/75/100:", np.percentile(best, q).astype(int).tolist())
    print(f"compactions (evaluation step, members left): {kept}")
    print(f"member-steps computed: compact=False {ms_off}, compact=True {ms_on} "
          f"({ms_on / ms_off:.2f}x)")  # fmt: skip
    print(f"\nmedian of {args.repeats} interleaved runs:")
    print(f"compact=False {t_off:8.2f} s   (all: {np.round(secs[False], 2).tolist()})")
    print(f"compact=True  {t_on:8.2f} s   (all: {np.round(secs[True], 2).tolist()})"
          f"   speed-up {t_off / t_on:.2f}x")  # fmt: skip
    pairs = zip(e_off.parameters(), e_on.parameters(), strict=True)
    dp = max(float((p - q).detach().abs().max()) for p, q in pairs)
    same_stop = bool((h_off["stopped_step"] == h_on["stopped_step"]).all())
    same_best = bool((h_off["best_step"] == h_on["best_step"]).all())
    print(f"same stopped_step: {same_stop}, same best_step: {same_best}, "
          f"max |restored param diff| (float32): {dp:.2e}")  # fmt: skip

    costs = decay_costs(args, data)
    print(f"\ndecay cost, {args.decay_steps} steps, no early stopping (medians):")
    for name, sec in costs.items():
        print(f"  {name:24s} {sec:7.2f} s")
    new = costs["fit_ensemble, decay"] / costs["fit_ensemble, no decay"]
    old = costs["old loop, decay"] / costs["old loop, no decay"]
    print(f"  with / without decay: fit_ensemble {new:.2f}x, old formula {old:.2f}x")


if __name__ == "__main__":
    main()
