"""Which step budget lets the ``tuned`` regression preset's CV trainings converge?

One cross-validation-like training per activation x learning rate x method (regular,
Sobolev with weights (1, 1)) on one 80/20 split of seed 0's data of a ``--preset tuned``
cell, with the preset's network, cosine schedule, evaluation interval and patience,
at several step budgets. Prints, per budget, whether the protocol's convergence rule
holds, the best held-out value MSE (standardised units) and the step training stopped.
Not a timing benchmark: it sizes the budget (``results/regression/README.md``).

Usage::

    .venv/bin/python benchmarks/bench_tuned_budget.py [--function booth] [--n 100] \
        [--budgets 2000 4000 8000] [--activations softplus tanh] [--eval-every 100] \
        [--patience 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev_lab.experiments.regression import PRESETS, cells
from sobolev_lab.experiments.regression.config import RegressionConfig
from sobolev_lab.experiments.regression.study import prepare
from sobolev_lab.protocol.convergence import converged
from sobolev_lab.theory.functions import get


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--function", default="booth")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--budgets", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--activations", nargs="+", default=None, help="default: the preset's")
    ap.add_argument("--eval-every", type=int, default=None, help="default: the preset's")
    ap.add_argument("--patience", type=int, default=None, help="default: the preset's")
    args = ap.parse_args()
    torch.set_num_threads(1)
    all_cells = cells(RegressionConfig(**PRESETS["tuned"]))
    cell = next(c for c in all_cells if c["function"] == args.function and c["n_train"] == args.n)
    _, _, u, v, dv, *_ = prepare(get(cell["function"], cell["dim"]), cell)
    dtype = getattr(torch, cell["dtype"])
    eval_every = args.eval_every or cell["eval_every"]
    patience = args.patience or cell["patience"]
    x, y, g = (torch.as_tensor(np.asarray(a)[0], dtype=dtype) for a in (u, v, dv))
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    n_val = x.shape[0] // 5
    tr, va = perm[: x.shape[0] - n_val], perm[x.shape[0] - n_val :]
    dim = x.shape[1]
    for act in args.activations or cell["activations"]:
        for lr in cell["lrs"]:
            for sobolev in (False, True):
                row = []
                for steps in args.budgets:
                    ens = MLPEnsemble.from_seeds(dim, 1, cell["hidden"], act, [0], dtype=dtype)
                    hist = fit_ensemble(
                        ens, x[tr][None], y[tr][None, :, None],
                        g[tr][None, :, None, :] if sobolev else None,
                        weights=(1.0, 1.0) if sobolev else (1.0, 0.0), steps=steps, lr=lr,
                        schedule=cell["schedule"], seed=0, progress=False,
                        validation=(x[va][None], y[va][None, :, None]),
                        eval_every=eval_every, patience=patience,
                    )  # fmt: skip
                    val, at = np.asarray(hist["val"])[:, 0], np.asarray(hist["val_step"])
                    ok = converged(val, at, budget=steps)
                    stop = int(hist["stopped_step"][0])
                    row.append(f"{steps}: {'conv' if ok else 'NOT '} {val.min():.2e} @{stop}")
                name = "sobolev" if sobolev else "regular"
                print(f"{act:8s} lr {lr:g} {name:8s} " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
