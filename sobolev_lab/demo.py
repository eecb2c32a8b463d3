"""``sobolev demo``: a small regular-vs-Sobolev fit on Styblinski-Tang in 2-D.

The full studies live in ``experiments``; this demo only needs the library.
"""

from __future__ import annotations

import argparse
import time


def styblinski_tang(x):
    """Styblinski-Tang, 0.5 * sum(x^4 - 16 x^2 + 5 x), for a torch tensor (N, d)."""
    return 0.5 * (x**4 - 16 * x**2 + 5 * x).sum(dim=1)


def run(n_train: int = 20, steps: int = 2000, seed: int = 0, n_test: int = 10_000) -> dict:
    """Fit a 2-256-256-1 ReLU MLP with order 0 and order 1; return test MSEs."""
    import torch

    import sobolev as sb

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    lo, hi = -5.0, 5.0
    x_train = lo + (hi - lo) * torch.rand(n_train, 2, generator=gen)
    x_test = lo + (hi - lo) * torch.rand(n_test, 2, generator=gen)
    target = sb.Target.from_function(styblinski_tang)
    y_test, J_test = sb.value_and_jacobian(styblinski_tang, x_test, create_graph=False)
    out = {}
    for order in (0, 1):
        model = sb.MLP(2, 1, (256, 256), "relu", seed=seed)
        t0 = time.perf_counter()
        sb.fit(
            model,
            x_train,
            target,
            loss=sb.SobolevLoss(order=order),
            steps=steps,
            lr=3e-3,
            schedule="cosine",
            seed=seed,
        )
        y, J = sb.value_and_jacobian(model, x_test, create_graph=False)
        out["sobolev" if order else "regular"] = {
            "test_mse_values": float(((y - y_test) ** 2).mean()),
            "test_mse_gradients": float(((J - J_test) ** 2).sum((1, 2)).mean()),
            "seconds": time.perf_counter() - t0,
        }
    return out


def _main(args: argparse.Namespace) -> int:
    print(f"Styblinski-Tang on [-5, 5]^2, {args.n_train} training points, 2-256-256-1 ReLU MLP")
    res = run(n_train=args.n_train, steps=args.steps, seed=args.seed)
    print(f"{'method':<10}{'test MSE (values)':>20}{'test MSE (gradients)':>24}{'time [s]':>10}")
    for name, r in res.items():
        print(
            f"{name:<10}{r['test_mse_values']:>20.4g}{r['test_mse_gradients']:>24.4g}"
            f"{r['seconds']:>10.1f}"
        )
    return 0


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="small regular-vs-Sobolev fit on Styblinski-Tang")
    p.add_argument("--n-train", type=int, default=20)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_main)
