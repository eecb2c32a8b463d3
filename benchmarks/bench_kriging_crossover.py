"""Where kriging's cubic cost overtakes a network's: fit seconds against n and d.

Issue #14 asks where kriging's ``rows^3`` cost (``n`` rows for KRG, ``n (d + 1)`` for
GEKPLS) makes it slower than the networks. The regression protocol's cells stop at
n = 100, where kriging is still the faster, so this measures larger n directly, side by
side in one run on the same data, one thread each:

* ``KRG`` and ``GEKPLS``: the regression protocol's own adapters
  (:mod:`sobolev_lab.peers`; hyperparameters by SMT's likelihood maximisation),
  ``max_rows`` raised so that the sizes are not refused;
* ``net``: **one** training of the protocol's network (d-256-256-1 ReLU; Sobolev loss
  with unit weights, full-batch Adam at lr 1e-3 for the protocol's 2000-step budget, no
  early stopping; :data:`PROTOCOL_NET` through ``SobolevRegressor``). The protocol trains 21 such
  networks per method and seed (5 folds x 4 candidates, and the refit) in one stacked
  ensemble, so its tuned cost per seed is a multiple of this (the cells' ``fit_seconds``);
* ``SobolevRegressor``: ``SobolevRegressor()`` at its defaults, given ``dy``.

Every fit also reports its relative test MSE (MSE / Var f on 1000 fresh points), so a
faster method that is much less accurate is visible as such. Once a method's fit takes
longer than ``--max-seconds`` it is skipped at the larger n of that d. A kriging fit
that raises (SMT's PLS step can meet a NaN) is recorded as failed.

Usage::

    .venv/bin/python benchmarks/bench_kriging_crossover.py \
        [--function styblinski_tang] [--dims 2 4 8] [--sizes 100 200 400 800 1600] \
        [--max-seconds 600] [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings

import numpy as np
import torch
from bench_sklearn import data  # the same training and test points as that benchmark
from threadpoolctl import threadpool_limits

from sobolev.sklearn import SobolevRegressor
from sobolev_lab import peers
from sobolev_lab.results import atomic_write_text

METHODS = ("KRG", "GEKPLS", "net", "SobolevRegressor")
#: One training of the regression protocol's network, through the estimator: full
#: batches (a batch larger than any n here), so max_iter counts steps.
PROTOCOL_NET = {
    "hidden_layer_sizes": (256, 256), "activation": "relu", "learning_rate_init": 1e-3,
    "max_iter": 2000, "schedule": "constant", "weights": None, "early_stopping": False,
    "batch_size": 10**9, "dtype": "float32",
}  # fmt: skip


def make(method: str, seed: int):
    big = 10**9  # the sizes here are chosen on purpose; the adapters' limit is a guard
    if method == "KRG":
        return peers.KRG(max_rows=big)
    if method == "GEKPLS":
        return peers.GEKPLS(n_comp=2, max_rows=big)
    if method == "net":
        return SobolevRegressor(**PROTOCOL_NET, random_state=seed)
    return SobolevRegressor(random_state=seed)


def fit_one(method: str, model, X, y, dy) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "KRG":
            model.fit(X, y)
        elif method == "GEKPLS":
            model.fit(X, y, dy)
        else:
            model.fit(X, y, dy=dy)


def run(args) -> list[dict]:
    rows = []
    for d in args.dims:
        slow: set[str] = set()
        for n in args.sizes:
            cell = {"kind": "fn", "name": args.function, "d": d, "n": n}
            (X, y, dy), (Xt, yt) = data(cell, args.seed, market_seed=0)
            for method in args.methods:
                if method in slow:
                    continue
                model = make(method, args.seed)
                t0 = time.perf_counter()
                err, failed = math.nan, None
                try:
                    fit_one(method, model, X, y, dy)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                    # SMT's PLS step can meet a NaN (as in the regression protocol's cells).
                    failed = repr(exc)
                seconds = time.perf_counter() - t0  # the fit only, not the prediction
                if not failed:
                    err = float(np.mean((model.predict(Xt) - yt) ** 2) / np.var(yt))
                rows.append({"d": d, "n": n, "method": method, "seconds": seconds, "err": err,
                             "failed": failed})  # fmt: skip
                note = (
                    f"FAILED after {seconds:.1f} s: {failed}"
                    if failed
                    else (f"{seconds:8.1f} s  rel. MSE {err:.2e}")
                )
                print(f"d = {d}, n = {n:5d}, {method:17s} {note}", flush=True)
                if args.json:  # after every fit, so that a stopped run keeps its rows
                    save(args, rows)
                if seconds > args.max_seconds:
                    slow.add(method)
    return rows


def save(args, rows: list[dict]) -> None:
    atomic_write_text(args.json, json.dumps({"args": vars(args), "rows": rows}, indent=1))


def table(rows: list[dict], methods) -> str:
    """Markdown: fit seconds (relative test MSE) per (d, n) and method."""
    out = ["| d | n | " + " | ".join(methods) + " |", "|---:|---:|" + "---|" * len(methods)]
    for d, n in dict.fromkeys((r["d"], r["n"]) for r in rows):
        cells = []
        for m in methods:
            hit = [r for r in rows if (r["d"], r["n"], r["method"]) == (d, n, m)]
            if not hit:
                cells.append("—")
            elif hit[0]["failed"]:
                cells.append(f"failed ({hit[0]['seconds']:.0f} s)")
            else:
                cells.append(f"{hit[0]['seconds']:.1f} ({hit[0]['err']:.1e})")
        out.append(f"| {d} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", default="styblinski_tang")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{platform.machine()}, torch {torch.__version__}, one thread; {args.function}")
    with threadpool_limits(1):
        rows = run(args)
    print(table(rows, args.methods))


if __name__ == "__main__":
    main()
