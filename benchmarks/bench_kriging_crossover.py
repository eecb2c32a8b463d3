"""Where kriging's cubic cost overtakes a network's: fit seconds against n and d.

Issue #14 asks where kriging's ``rows^3`` cost (``n`` rows for KRG, ``n (d + 1)`` for
GEKPLS) makes it slower than the networks. The regression protocol's cells stop at
n = 100, where kriging is still the faster, so this measures larger n directly, side by
side in one run on the same data, one thread each:

* ``KRG`` and ``GEKPLS``: the regression protocol's own adapters
  (:mod:`sobolev_lab.peers`; hyperparameters by SMT's likelihood maximisation),
  ``max_rows`` raised so that the sizes are not refused;
* ``net``: **one** training of the protocol's network (2-256-256-1 ReLU for d = 2,
  d-256-256-1 otherwise; Sobolev loss with unit weights, full-batch Adam at lr 1e-3
  for the protocol's 2000-step budget, no early stopping). The protocol trains 21 such
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
import os
import platform
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import sobolev as sb
from sobolev.sklearn import SobolevRegressor
from sobolev_lab import peers
from sobolev_lab.theory.functions import get

METHODS = ("KRG", "GEKPLS", "net", "SobolevRegressor")
NET_STEPS = 2000


def problem(name: str, d: int, n: int, seed: int):
    f = get(name) if d == 2 else get(name, dim=d)
    X, Xt = f.sample(n, seed=seed), f.sample(1000, seed=10_000 + seed)
    return X, f.value(X), f.grad(X), Xt, f.value(Xt)


class _Net:
    """One protocol-sized Sobolev training on standardised data (module docstring)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, X, y, dy):
        self.std = sb.Standardizer.fit(X, y[:, None])
        u, v, dv, _ = self.std.transform(X, y[:, None], dy[:, None, :])
        self.model = sb.MLP(X.shape[1], 1, hidden=(256, 256), activation="relu", seed=self.seed)
        x = torch.as_tensor(u, dtype=torch.float32)
        target = sb.Target.from_arrays(
            torch.as_tensor(v, dtype=torch.float32), torch.as_tensor(dv, dtype=torch.float32)
        )
        sb.fit(self.model, x, target, loss=sb.SobolevLoss(1), steps=NET_STEPS, lr=1e-3,
               seed=self.seed, progress=False)  # fmt: skip
        return self

    def predict(self, Xt):
        u = torch.as_tensor(self.std.transform(Xt)[0], dtype=torch.float32)
        with torch.no_grad():
            v = self.model(u).double().numpy()
        return self.std.inverse(v=v)[1][:, 0]


def make(method: str, seed: int):
    big = 10**9  # the sizes here are chosen on purpose; the adapters' limit is a guard
    if method == "KRG":
        return peers.KRG(max_rows=big)
    if method == "GEKPLS":
        return peers.GEKPLS(n_comp=2, max_rows=big)
    if method == "net":
        return _Net(seed)
    return SobolevRegressor(random_state=seed)


def fit_one(method: str, model, X, y, dy) -> float:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "KRG":
            model.fit(X, y)
        elif method == "SobolevRegressor":
            model.fit(X, y, dy=dy)
        else:
            model.fit(X, y, dy)
    return time.perf_counter() - t0


def run(args) -> list[dict]:
    rows = []
    for d in args.dims:
        slow: set[str] = set()
        for n in args.sizes:
            X, y, dy, Xt, yt = problem(args.function, d, n, args.seed)
            for method in args.methods:
                if method in slow:
                    continue
                model = make(method, args.seed)
                t0 = time.perf_counter()
                try:
                    seconds = fit_one(method, model, X, y, dy)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                    # SMT's PLS step can meet a NaN (as in the regression protocol's cells).
                    seconds, err, failed = time.perf_counter() - t0, math.nan, repr(exc)
                else:
                    err = float(np.mean((model.predict(Xt) - yt) ** 2) / np.var(yt))
                    failed = None
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
    tmp = f"{args.json}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    os.replace(tmp, args.json)


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
