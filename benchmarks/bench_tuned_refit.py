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

from sobolev_lab.experiments.regression.protocol_cell import _fit_stack, candidates
from sobolev_lab.experiments.regression.study import _backward, _metrics, prepare
from sobolev_lab.protocol import refit_stacks
from sobolev_lab.results import read_result
from sobolev_lab.stats import paired_log_ratio
from sobolev_lab.theory.functions import get

METHODS = ("regular", "sobolev")


def refit(cell, data, method, chosen, steps):
    """Test value MSE of each seed's chosen config trained for ``steps[s]`` steps.

    Seed by seed, as the protocol's refit does, so ``steps = refit_steps`` reproduces
    the shipped numbers.
    """
    stack, scs, u, v, dv, ut, _, _ = data
    dtype = getattr(torch, cell["dtype"])
    configs = candidates(cell)[method]
    out = []
    for s, seed in enumerate(cell["seeds"]):
        (st,) = refit_stacks(
            u[s : s + 1], v[s : s + 1], dv[s : s + 1] if method == "sobolev" else None,
            configs, [chosen[s]], [seed], shared_keys=("activation", "lr"), dtype=dtype,
        )  # fmt: skip
        ens, _ = _fit_stack(st, cell, u.shape[2], dtype, steps[s], validation=False)
        yp, jp = ens.predict(torch.as_tensor(ut[s : s + 1], dtype=dtype))
        pv, pg = _backward(scs[s : s + 1], yp[..., 0].double().numpy(),
                           jp[:, :, 0].double().numpy())  # fmt: skip
        res = _metrics(pv, pg, stack["yt"][s : s + 1], stack["gt"][s : s + 1], None)
        out.append(res["test_mse_values"][0])
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
    data = prepare(get(cell["function"], cell["dim"]), cell)
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
