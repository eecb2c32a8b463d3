"""SobolevRegressor at its defaults against the peers at theirs, side by side in one run.

Estimators (``--estimators``), each with its own defaults, on the same data:

* ``sobolev_dy``: ``SobolevRegressor()`` given the derivatives; ``sobolev``: without;
* ``genn``: SMT's gradient-enhanced network ``GENN()`` (12x12 tanh, 1000 iterations);
* ``gekpls``: SMT's gradient-enhanced kriging ``GEKPLS()``; ``krg``: SMT's ``KRG()``
  (values only). Kriging costs rows^3: skipped above ``--max-krg-rows`` rows
  (``n`` for KRG, ``n (d + 1)`` for GEKPLS);
* ``mlp``: scikit-learn's ``MLPRegressor()`` inside ``StandardScaler`` and
  ``TransformedTargetRegressor`` (values only);
* ``twin``: the Differential-ML twin net (``benchmarks/twin_net.py``, 4x20 softplus,
  one-cycle Adam, 100 epochs); ``classic``: the same net on values only.

Problem suites (``--suite``):

* ``paper``: the paper's seven 2-D functions at n = 20, 100;
* ``smooth``: ``--functions`` (any-dimension functions of
  ``sobolev_lab.theory.functions``) at d = 4, 8 and n = 200, 1000;
* ``bachelier``: a basket call with noisy pathwise labels
  (``sobolev_lab.experiments.differential_ml.markets.BachelierBasket``) at
  ``--dims`` and ``--sizes``, market seed ``--market-seed``; tested on exact prices.

Accuracy: relative test MSE (MSE / Var f on 1000 fresh points) for functions, value
RMSE for the basket; fit time in seconds. Mean over ``--seeds`` seeds; one torch and
one BLAS thread.

Usage::

    python benchmarks/bench_sklearn.py --suite paper --seeds 2
    python benchmarks/bench_sklearn.py --suite bachelier --dims 7 20 --sizes 1024 8192
    python benchmarks/bench_sklearn.py --suite smooth --functions dixon_price levy \\
        --estimators sobolev_dy genn --sobolev '{"activation": "tanh"}'
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sobolev.sklearn import SobolevRegressor
from sobolev_lab.theory.functions import PAPER_FUNCTIONS, get

sys.path.insert(0, str(Path(__file__).parent))
from twin_net import TwinNet

ESTIMATORS = ("sobolev_dy", "sobolev", "genn", "gekpls", "krg", "mlp", "twin", "classic")
USES_DY = {"sobolev_dy", "genn", "gekpls", "twin"}


# -- problems -------------------------------------------------------------------------
def cells(args) -> list[dict]:
    """One dict per (problem, n)."""
    if args.suite == "paper":
        return [
            {"kind": "fn", "name": f, "d": 2, "n": n} for f in PAPER_FUNCTIONS for n in (20, 100)
        ]
    if args.suite == "smooth":
        return [
            {"kind": "fn", "name": f, "d": d, "n": n}
            for f in args.functions
            for d in (4, 8)
            for n in args.sizes or (200, 1000)
        ]
    return [
        {"kind": "bachelier", "name": f"bachelier_d{d}", "d": d, "n": n}
        for d in args.dims
        for n in args.sizes or (1024, 8192)
    ]


def data(cell: dict, seed: int, market_seed: int):
    """Training (X, y, dy) and test (X, y) for one seed."""
    if cell["kind"] == "fn":
        f = get(cell["name"], dim=cell["d"]) if cell["d"] != 2 else get(cell["name"])
        X, Xt = f.sample(cell["n"], seed=seed), f.sample(1000, seed=10_000 + seed)
        return (X, f.value(X), f.grad(X)), (Xt, f.value(Xt))
    from sobolev_lab.experiments.differential_ml.markets import BachelierBasket

    market = BachelierBasket(cell["d"], seed=market_seed)
    X, y, dy = market.training_set(cell["n"], seed=seed)
    Xt, yt, _ = market.test_set(1000, seed=10_000 + seed)
    return (X, y, dy), (Xt, yt)


# -- estimators -----------------------------------------------------------------------
class _SMT:
    """SMT surrogate at its defaults behind fit / predict."""

    def __init__(self, kind: str, seed: int, uses_dy: bool) -> None:
        self.kind, self.seed, self.uses_dy = kind, seed, uses_dy

    def fit(self, X, y, dy):
        from smt.surrogate_models import GEKPLS, GENN, KRG

        if self.kind == "genn":
            self.model = GENN(print_global=False, seed=self.seed)
            self.model.load_data(X, y[:, None], dy)
        else:
            self.model = (GEKPLS if self.kind == "gekpls" else KRG)(print_global=False)
            self.model.set_training_values(X, y[:, None])
            if self.uses_dy:
                for i in range(X.shape[1]):
                    self.model.set_training_derivatives(X, dy[:, i : i + 1], i)
        with contextlib.redirect_stdout(io.StringIO()):
            self.model.train()
        return self

    def predict(self, X):
        return self.model.predict_values(X)[:, 0]


def make(name: str, seed: int, sobolev_params: dict):
    if name in ("sobolev", "sobolev_dy"):
        return SobolevRegressor(random_state=seed, **sobolev_params)
    if name in ("genn", "gekpls", "krg"):
        return _SMT(name, seed, name in USES_DY)
    if name == "mlp":
        return TransformedTargetRegressor(
            regressor=make_pipeline(StandardScaler(), MLPRegressor(random_state=seed)),
            transformer=StandardScaler(),
        )
    return TwinNet(seed=seed)


def skipped(name: str, cell: dict, max_rows: int) -> bool:
    rows = {"krg": cell["n"], "gekpls": cell["n"] * (cell["d"] + 1)}.get(name, 0)
    return rows > max_rows


def fit_one(name, model, X, y, dy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if name in ("sobolev_dy", "twin", "genn", "gekpls"):
            return model.fit(X, y, dy=dy) if name == "sobolev_dy" else model.fit(X, y, dy)
        if name in ("krg", "classic"):
            return model.fit(X, y, None)
        return model.fit(X, y)


def warm_up(estimators, sob: dict, cell: dict, market_seed: int) -> None:
    """Fit every estimator once, untimed, on a few samples of the first problem: the
    first fit in a process pays one-off costs (torch's kernels, lazy imports) that
    would otherwise be charged to whichever estimator runs first."""
    (X, y, dy), _ = data({**cell, "n": 32}, 0, market_seed)
    for name in estimators:
        fit_one(name, make(name, 0, {**sob, "max_iter": 2}), X, y, dy)


def run(args) -> list[dict]:
    rows = []
    sob = json.loads(args.sobolev)
    warm_up(args.estimators, sob, cells(args)[0], args.market_seed)
    for cell in cells(args):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            (X, y, dy), (Xt, yt) = data(cell, seed, args.market_seed)
            for name in args.estimators:
                if skipped(name, cell, args.max_krg_rows):
                    continue
                model = make(name, seed, sob)
                t0 = time.perf_counter()
                fit_one(name, model, X, y, dy)
                seconds = time.perf_counter() - t0
                mse = float(np.mean((model.predict(Xt) - yt) ** 2))
                err = mse / float(np.var(yt)) if cell["kind"] == "fn" else float(np.sqrt(mse))
                rows.append({**cell, "seed": seed, "est": name, "err": err, "seconds": seconds})
            print(f"  {cell['name']} n={cell['n']} seed {seed} done", flush=True)
    return rows


def table(rows: list[dict], estimators) -> str:
    """Markdown: mean error (mean fit seconds) per cell and estimator; best in bold."""
    keys = list(dict.fromkeys((r["name"], r["d"], r["n"]) for r in rows))
    metric = "value RMSE" if rows and rows[0]["kind"] == "bachelier" else "relative test MSE"
    out = [
        f"{metric} (mean fit seconds), mean over seeds; best in bold",
        "",
        "| problem | d | n | " + " | ".join(estimators) + " |",
        "|---|---:|---:|" + "---:|" * len(estimators),
    ]
    for key in keys:
        mean = {}
        for e in estimators:
            sel = [r for r in rows if (r["name"], r["d"], r["n"]) == key and r["est"] == e]
            if sel:
                mean[e] = (np.mean([r["err"] for r in sel]), np.mean([r["seconds"] for r in sel]))
        best = min(v[0] for v in mean.values())
        cells_ = []
        for e in estimators:
            if e not in mean:
                cells_.append("—")
                continue
            text = f"{mean[e][0]:.2g} ({mean[e][1]:.2g})"
            cells_.append(f"**{text}**" if mean[e][0] == best else text)
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells_) + " |")
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("paper", "smooth", "bachelier"), default="paper")
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--functions", nargs="+", default=["styblinski_tang", "rosenbrock"])
    parser.add_argument("--dims", nargs="+", type=int, default=[7, 20])
    parser.add_argument(
        "--sizes", nargs="+", type=int, help="n (default: 200 1000 smooth, 1024 8192 bachelier)"
    )
    parser.add_argument("--market-seed", type=int, default=0)
    parser.add_argument("--max-krg-rows", type=int, default=1000)
    parser.add_argument("--sobolev", default="{}", help="JSON of SobolevRegressor overrides")
    parser.add_argument("--json", help="also write the per-seed rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()}, 1 torch thread, 1 BLAS thread; {vars(args)}"
    )
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        rows = run(args)
    print()
    print(table(rows, args.estimators))
    print(f"\nTotal wall time: {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
