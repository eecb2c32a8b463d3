"""Kriging gradients on a regression-protocol test set: SMT's loops vs the vectorised helpers.

The regression protocol evaluates every method's input gradients on 10,000 test points.
For SMT's GEKPLS and KRG that is ``predict_derivatives`` once per input, whose
cross-distance derivatives SMT 2.15 computes in Python loops (numba is not installed).
Measured side by side in one run, one BLAS thread, on the same fitted models: SMT as
shipped, and inside :func:`sobolev_lab._smt_fast.fast_kriging_derivatives`. Prints the
seconds of both and the largest relative difference of the gradients.

Usage::

    .venv/bin/python benchmarks/bench_kriging_gradients.py [--d 4] [--n 20] [--test 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sobolev_lab import peers
from sobolev_lab._smt_fast import fast_kriging_derivatives


def fitted(kind: str, X: np.ndarray, y: np.ndarray, dy: np.ndarray):
    """The SMT model inside the project's peer adapter (the protocol's own fit)."""
    adapter = peers.GEKPLS() if kind == "GEKPLS" else peers.KRG()
    return adapter.fit(X, y, dy if kind == "GEKPLS" else None).model_


def gradients(model, Xt: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    g = np.concatenate([model.predict_derivatives(Xt, i) for i in range(Xt.shape[1])], 1)
    return g, time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=4)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--test", type=int, default=10_000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (args.n, args.d))
    y, dy = (np.sin(2 * X) ** 2).sum(1), 2 * np.sin(4 * X)
    Xt = rng.uniform(-1, 1, (args.test, args.d))
    print(f"d = {args.d}, n = {args.n}, {args.test} test points, 1 BLAS thread")
    print("| model | SMT loops [s] | vectorised [s] | speed-up | max rel. difference |")
    print("|---|---|---|---|---|")
    with threadpool_limits(1):
        for kind in ("GEKPLS", "KRG"):
            model = fitted(kind, X, y, dy)
            slow, t_slow = gradients(model, Xt)
            with fast_kriging_derivatives():
                fast, t_fast = gradients(model, Xt)
            diff = float(np.max(np.abs(fast - slow)) / np.max(np.abs(slow)))
            print(f"| {kind} | {t_slow:.2f} | {t_fast:.3f} | {t_slow / t_fast:.0f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
