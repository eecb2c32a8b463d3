"""Would longer training change a shipped ``tuned`` regression verdict?

The ``tuned`` preset's cells at n = 100 converged less often than the protocol's 90%:
smooth-activation networks are still improving when the budget ends
(``bench_tuned_budget.py``). This refits, for every seed of one shipped cell, the
configuration that cross-validation chose (its activation, learning rate and weight)
on the same n training points, for a longer budget than the protocol's refit, and
compares the test value MSE and the paired Sobolev / regular ratio with the shipped
ones. The selection itself is not repeated. Not a timing benchmark.

Usage::

    .venv/bin/python benchmarks/bench_tuned_refit.py --result results/regression/tuned \
        --function booth --n 100 --steps 8000
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from sobolev_lab.experiments.regression.protocol_cell import candidates, cell_data, refit_seed
from sobolev_lab.results import read_result
from sobolev_lab.stats import paired_log_ratio
from sobolev_lab.theory.functions import get

METHODS = ("regular", "sobolev")


def refit(cell, data, method, chosen, steps):
    """Test value MSE of each seed's chosen config trained for ``steps[s]`` steps.

    Seed by seed through the protocol's own refit, so ``steps = refit_steps``
    reproduces the shipped numbers.
    """
    configs = candidates(cell)[method]
    dy = data["dv"] if method == "sobolev" else None
    out = []
    for s in range(len(chosen)):
        *_, pv, _ = refit_seed(cell, data, dy, configs, chosen[s], s, steps[s])
        out.append(float(np.mean((pv - data["yt"][s]) ** 2)))
    return np.asarray(out)


def ratio(a, b):
    """Geometric mean of a / b over seeds with its 95% t interval, as text."""
    r = paired_log_ratio(a, b)
    return f"{r['ratio']:.3g} [{r['ci'][0]:.3g}, {r['ci'][1]:.3g}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--result", default="results/regression/tuned", help="a tuned result folder")
    ap.add_argument("--function", default="booth")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument(
        "--steps", type=int, default=8000,
        help="refit budget (cosine schedule); 0: each seed's shipped refit_steps (a check)",
    )  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(1)
    payload = read_result(f"{args.result}/result.json")["payload"]
    entry = next(
        c for c in payload["cells"]
        if c["cell"]["function"] == args.function and c["cell"]["n_train"] == args.n
    )  # fmt: skip
    cell, methods = entry["cell"], entry["result"]["methods"]
    data, _ = cell_data(get(cell["function"], cell["dim"]), cell)
    label = "refit steps again" if args.steps == 0 else f"{args.steps} steps"
    shipped, longer = {}, {}
    for m in METHODS:
        chosen = [s["index"] for s in methods[m]["selection"]]
        shipped[m] = np.asarray(methods[m]["test_mse_values"])
        steps = methods[m]["refit_steps"] if args.steps == 0 else [args.steps] * len(chosen)
        longer[m] = refit(cell, data, m, chosen, steps)
        print(
            f"{m:8s} refit steps {min(methods[m]['refit_steps'])}-{max(methods[m]['refit_steps'])}"
            f": test value MSE (geometric mean) {np.exp(np.log(shipped[m]).mean()):.3g}; "
            f"{label}: {np.exp(np.log(longer[m]).mean()):.3g}; "
            f"longer / shipped {ratio(longer[m], shipped[m])}",
            flush=True,
        )
    print(f"regular / sobolev, shipped: {ratio(shipped['regular'], shipped['sobolev'])}")
    print(f"regular / sobolev, {label}: {ratio(longer['regular'], longer['sobolev'])}")


if __name__ == "__main__":
    main()
