"""Test error of SobolevRegressor (given / estimated / no derivatives) vs MLPRegressor.

On the seven 2-D functions of the Sobolev Training paper (``sobolev_lab.theory.functions``) and on
scikit-learn's ``make_friedman1`` (10 inputs, 5 used; analytic, so exact gradients are
known), train on ``--n-train`` uniform points and report the mean test MSE over
``--seeds`` seeds on ``--n-test`` fresh points. All four models share the architecture
(2 hidden layers of 256 ReLU units), Adam, the learning rate, the number of full-batch
steps and standardised inputs and targets; they are trained side by side in one run
with one torch thread.

* ``given``: ``SobolevRegressor(derivatives="given")`` with the exact gradients;
* ``estimate``: ``derivatives="estimate"``, nearest-neighbour least-squares gradients;
* ``none``: ``derivatives="none"``, plain value regression by the same code;
* ``MLPRegressor``: scikit-learn's, inside ``StandardScaler`` + ``TransformedTargetRegressor``
  with ``batch_size=n_train`` (full batch), ``max_iter=steps``, no early stopping and its
  default L2 penalty ``alpha=1e-4``.

Usage::

    python benchmarks/bench_sklearn.py [--n-train 100] [--seeds 3] [--steps 1000]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sobolev.sklearn import SobolevRegressor
from sobolev_lab.theory.functions import PAPER_FUNCTIONS, get

METHODS = ("given", "estimate", "none", "MLPRegressor")
# Test gradient error of the Sobolev variants, and the error of the estimated
# gradients at the training points (what "estimate" is trained to match).
GRADIENT_COLUMNS = ("given", "estimate", "none", "estimated targets")
HIDDEN = (256, 256)


def friedman1_gradient(X: np.ndarray) -> np.ndarray:
    """Exact gradient (N, d) of f = 10 sin(pi x0 x1) + 20 (x2 - 1/2)^2 + 10 x3 + 5 x4."""
    G = np.zeros_like(X)
    c = 10 * np.pi * np.cos(np.pi * X[:, 0] * X[:, 1])
    G[:, 0] = c * X[:, 1]
    G[:, 1] = c * X[:, 0]
    G[:, 2] = 40 * (X[:, 2] - 0.5)
    G[:, 3] = 10.0
    G[:, 4] = 5.0
    return G


def friedman1_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_friedman1(n_samples=n, n_features=10, noise=0.0, random_state=seed)
    return X, y, friedman1_gradient(X)


def check_friedman1_gradient() -> float:
    """Largest central-difference mismatch of :func:`friedman1_gradient` (sanity check)."""
    X, _, G = friedman1_data(50, seed=12345)

    def f(Z):
        return (
            10 * np.sin(np.pi * Z[:, 0] * Z[:, 1])
            + 20 * (Z[:, 2] - 0.5) ** 2
            + 10 * Z[:, 3]
            + 5 * Z[:, 4]
        )

    h = 1e-6
    fd = np.stack([(f(X + h * e) - f(X - h * e)) / (2 * h) for e in np.eye(10)], axis=1)
    _, y, _ = friedman1_data(50, seed=12345)
    assert np.allclose(f(X), y, atol=1e-12), "f does not reproduce make_friedman1"
    return float(np.abs(fd - G).max())


def problem_data(name: str, n: int, seed: int):
    """Inputs (n, d), values (n,), exact gradients (n, d)."""
    if name == "friedman1":
        return friedman1_data(n, seed)
    f = get(name)
    X = f.sample(n, seed=seed)
    return X, f.value(X), f.grad(X)


def make_model(method: str, n: int, steps: int, lr: float, seed: int):
    if method == "MLPRegressor":
        mlp = MLPRegressor(
            hidden_layer_sizes=HIDDEN,
            activation="relu",
            solver="adam",
            learning_rate_init=lr,
            max_iter=steps,
            batch_size=n,  # full batch: one Adam step per iteration, as in SobolevRegressor
            shuffle=False,
            tol=0.0,
            n_iter_no_change=steps + 1,
            random_state=seed,
        )
        return TransformedTargetRegressor(
            regressor=make_pipeline(StandardScaler(), mlp), transformer=StandardScaler()
        )
    return SobolevRegressor(
        hidden=HIDDEN,
        activation="relu",
        derivatives=method,
        max_steps=steps,
        lr=lr,
        random_state=seed,
    )


def run(problems, n_train, n_test, seeds, steps, lr):
    mse = {(p, m): [] for p in problems for m in METHODS}
    grad_err = {(p, m): [] for p in problems for m in GRADIENT_COLUMNS}
    seconds = dict.fromkeys(METHODS, 0.0)
    for p in problems:
        for seed in range(seeds):
            X, y, dy = problem_data(p, n_train, seed)
            Xt, yt, dyt = problem_data(p, n_test, 10_000 + seed)
            for m in METHODS:
                model = make_model(m, n_train, steps, lr, seed)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    if m == "given":
                        model.fit(X, y, dy=dy)
                    else:
                        model.fit(X, y)
                seconds[m] += time.perf_counter() - t0
                mse[p, m].append(float(np.mean((model.predict(Xt) - yt) ** 2)))
                if m != "MLPRegressor":
                    G = model.predict_gradient(Xt)
                    grad_err[p, m].append(float(np.linalg.norm(G - dyt) / np.linalg.norm(dyt)))
                if m == "estimate":  # quality of the training targets themselves
                    E = model.estimated_gradients_[:, 0]
                    grad_err[p, "estimated targets"].append(
                        float(np.linalg.norm(E - dy) / np.linalg.norm(dy))
                    )
            print(f"  {p} seed {seed} done", flush=True)
    return mse, grad_err, seconds


def format_tables(problems, mse, grad_err, seeds) -> str:
    lines = [
        "Test MSE (mean over seeds; in brackets: ratio to the best of the row)",
        "",
        "| function | " + " | ".join(METHODS) + " |",
        "|---|" + "---:|" * len(METHODS),
    ]
    wins = dict.fromkeys(METHODS, 0)
    for p in problems:
        means = {m: float(np.mean(mse[p, m])) for m in METHODS}
        best = min(means.values())
        wins[min(means, key=means.get)] += 1
        cells = []
        for m in METHODS:
            cell = f"{means[m]:.3g} ({means[m] / best:.2f})" if best > 0 else f"{means[m]:.3g}"
            cells.append(f"**{cell}**" if means[m] == best else cell)
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "Lowest mean test MSE: " + ", ".join(f"{m} {wins[m]}" for m in METHODS), ""]
    lines += [
        "Relative gradient error |G - grad f| / |grad f| (mean over seeds): of each model on",
        "the test points, and of the nearest-neighbour estimates at the training points",
        "",
        "| function | " + " | ".join(GRADIENT_COLUMNS) + " |",
        "|---|" + "---:|" * len(GRADIENT_COLUMNS),
    ]
    for p in problems:
        errs = " | ".join(f"{np.mean(grad_err[p, m]):.3f}" for m in GRADIENT_COLUMNS)
        lines.append(f"| {p} | {errs} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--problems", nargs="+", default=[*PAPER_FUNCTIONS, "friedman1"], metavar="NAME"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    fd_err = check_friedman1_gradient()
    print(
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()}, 1 torch thread; friedman1 gradient vs central "
        f"differences: max |diff| {fd_err:.1e}"
    )
    print(
        f"n_train={args.n_train} n_test={args.n_test} seeds={args.seeds} "
        f"steps={args.steps} lr={args.lr} hidden={HIDDEN}"
    )
    t0 = time.perf_counter()
    # One BLAS thread too, so that MLPRegressor (numpy) runs under the same conditions.
    with threadpool_limits(limits=1):
        mse, grad_err, seconds = run(
            args.problems, args.n_train, args.n_test, args.seeds, args.steps, args.lr
        )
    print()
    print(format_tables(args.problems, mse, grad_err, args.seeds))
    print()
    print(
        "Fit time, all problems and seeds (s): "
        + ", ".join(f"{m} {seconds[m]:.1f}" for m in METHODS)
    )
    print(f"Total wall time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
