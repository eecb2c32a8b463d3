"""The Differential ML study: classical vs twin networks (and SMT peers) on noisy pathwise labels.

Cells (one per dimension ``d``, number of paths ``n`` and seed; each trains every
method on the same data, so comparisons pair over seeds):

* ``grid``: the classical net (values only), the twin net (values + pathwise deltas,
  Differential-ML weighting) and the SMT peers where ``n (d + 1)`` is within the
  configured row limits. Every method tries the same number of configurations and
  keeps the one with the lowest value MSE on held-out paths (a validation set of
  ``val_fraction * n`` extra paths, never the test set);
* ``projections``: the twin net with the full gradient against stochastic Sobolev
  training with one random projection (``SobolevLoss(projections=1)``);
* ``figure``: classical vs twin at ``d = figure_dim``, with the predicted price and
  delta stored along the test baskets for the figure.

Errors are RMSEs against the analytic price and delta on ``n_test`` spots whose
baskets span [0.5, 1.5]; the summary is built in :mod:`.summary`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.experiments.differential_ml import _smt
from sobolev_lab.experiments.differential_ml.markets import BachelierBasket, BlackScholes
from sobolev_lab.experiments.differential_ml.nets import converged, train_net
from sobolev_lab.experiments.differential_ml.summary import render, summarise
from sobolev_lab.study import Study

PEERS = ("genn", "gekpls", "krg")


@dataclass(frozen=True)
class DifferentialMLConfig(StudyConfig):
    """Pricing a basket call from noisy pathwise labels (Huge & Savine 2020)."""

    market: Literal["bachelier", "black_scholes"] = param(
        "bachelier", "bachelier: correlated basket; black_scholes: one lognormal asset (d = 1)"
    )
    market_seed: int = param(0, "seed of the market's correlation, weights and volatilities")
    dims: tuple[int, ...] = param([1, 7, 20], "numbers of assets d")
    ns: tuple[int, ...] = param([1024, 4096, 16384, 65536], "numbers of training paths n")
    seeds: int = param(5, "seeds per (d, n): data, initial weights and minibatch order")
    val_fraction: float = param(0.25, "held-out paths for selection, as a fraction of n")
    n_test: int = param(4096, "test spots with analytic price and delta")
    hidden: tuple[int, ...] = param([20, 20, 20, 20], "hidden widths (softplus)")
    epochs: int = param(100, "epochs of the one-cycle schedule")
    batches: int = param(16, "minibatches per epoch")
    min_batch: int = param(256, "smallest minibatch")
    classical_trials: tuple[tuple[float, float], ...] = param(
        [[0.1, 0.0], [0.01, 0.0]], "classical net's trials: [peak lr, weight decay]"
    )
    differential_trials: tuple[float, ...] = param(
        [0.1, 0.01], "twin net's trials: peak lr (alpha = 1/(1+d))"
    )
    peers: tuple[str, ...] = param(list(PEERS), "SMT peers to run where feasible")
    genn_trials: tuple[tuple[float, float], ...] = param(
        [[0.05, 0.01], [0.01, 0.01]], "GENN's trials: [learning rate alpha, L2 lambd]"
    )
    genn_iterations: int = param(1000, "GENN iterations")
    genn_max_rows: int = param(10000, "run GENN only where n (d + 1) is at most this")
    kriging_max_rows: int = param(512, "run KRG (n rows), GEKPLS (n (d + 1)) up to this")
    projection_dims: tuple[int, ...] = param([20, 50], "d of the projection comparison")
    projection_n: int = param(4096, "n of the projection comparison")
    projection_lr: float = param(0.1, "peak lr of both nets in the projection comparison")
    projection_seeds: int | None = param(None, "seeds of the projection comparison (None: seeds)")
    figure_dim: int = param(1, "d of the figure's curves")
    figure_ns: tuple[int, ...] = param([1024, 8192], "n of the figure's curves")
    figure_points: int = param(201, "points of each stored curve")

    def validate(self) -> None:
        check_nonnegative_int(self.market_seed, "market_seed")
        check_positive_int(self.seeds, "seeds")
        if self.projection_seeds is not None:
            check_positive_int(self.projection_seeds, "projection_seeds")
        for key in ("n_test", "epochs", "batches", "min_batch", "genn_iterations"):
            check_positive_int(getattr(self, key), key)
        check_positive_int(self.figure_points, "figure_points", minimum=2)
        for key in ("genn_max_rows", "kriging_max_rows", "projection_n"):
            check_nonnegative_int(getattr(self, key), key)
        for key in ("dims", "ns", "hidden", "projection_dims", "figure_ns"):
            vals = getattr(self, key)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in vals):
                raise ValueError(f"{key} must hold positive integers, got {vals!r}")
        if not self.dims or not self.ns:
            raise ValueError("dims and ns must not be empty")
        if list(self.ns) != sorted(set(self.ns)):
            raise ValueError(f"ns must be increasing without repeats, got {self.ns!r}")
        if self.market == "black_scholes" and (
            set(self.dims) | set(self.projection_dims) | {self.figure_dim}
        ) != {1}:
            raise ValueError("market black_scholes has d = 1: dims, projection_dims, figure_dim")
        if not 0.0 < self.val_fraction <= 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1], got {self.val_fraction!r}")
        budgets = {len(self.classical_trials), len(self.differential_trials)}
        if self.genn_trials and "genn" in self.peers:
            budgets.add(len(self.genn_trials))
        if len(budgets) != 1 or 0 in budgets:
            raise ValueError(
                "classical_trials, differential_trials and genn_trials must have the same "
                f"non-zero length (equal tuning budgets), got {sorted(budgets)}"
            )
        if any(len(t) != 2 or t[0] <= 0 or t[1] < 0 for t in self.classical_trials):
            raise ValueError("classical_trials must be [lr > 0, weight decay >= 0] pairs")
        if any(lr <= 0 for lr in self.differential_trials) or self.projection_lr <= 0:
            raise ValueError("differential_trials and projection_lr must be positive")
        if any(len(t) != 2 or t[0] <= 0 or t[1] < 0 for t in self.genn_trials):
            raise ValueError("genn_trials must be [alpha > 0, lambd >= 0] pairs")
        bad = set(self.peers) - set(PEERS)
        if bad:
            raise ValueError(f"peers must be among {PEERS}, got {sorted(bad)}")


def cells(config: DifferentialMLConfig) -> list[dict]:
    """Grid, projection and figure cells (module docstring)."""
    shared = {
        k: getattr(config, k)
        for k in ("market", "market_seed", "val_fraction", "n_test", "hidden", "epochs")
    }
    shared |= {"batches": config.batches, "min_batch": config.min_batch}
    trials = {
        "classical_trials": config.classical_trials,
        "differential_trials": config.differential_trials,
    }
    out = []
    for d in config.dims:
        for n in config.ns:
            for s in range(config.seeds):
                peers = {}
                for p in config.peers:
                    rows = n if p == "krg" else n * (d + 1)
                    limit = config.genn_max_rows if p == "genn" else config.kriging_max_rows
                    peers[p] = rows <= limit and not (p == "gekpls" and d == 1)
                out.append(
                    {"kind": "grid", "d": d, "n": n, "seed": s, **shared, **trials, "peers": peers}
                    | {"genn_trials": config.genn_trials, "genn_iterations": config.genn_iterations}
                )
    proj_seeds = config.seeds if config.projection_seeds is None else config.projection_seeds
    for d in config.projection_dims if config.market == "bachelier" else ():
        for s in range(proj_seeds):
            out.append(
                {"kind": "projections", "d": d, "n": config.projection_n, "seed": s, **shared}
                | {"lr": config.projection_lr}
            )
    for n in config.figure_ns:
        out.append(
            {"kind": "figure", "d": config.figure_dim, "n": n, "seed": 0, **shared, **trials}
            | {"points": config.figure_points}
        )
    # Smallest n first: an interrupted sweep has finished whole sizes, not whole dimensions.
    return sorted(out, key=lambda c: c["n"])


def _market(cell: dict):
    if cell["market"] == "black_scholes":
        return BlackScholes(seed=cell["market_seed"])
    return BachelierBasket(cell["d"], seed=cell["market_seed"])


def _data(cell: dict):
    """Training, validation and test sets of one cell; seeds differ by role."""
    market = _market(cell)
    n, s = cell["n"], cell["seed"]
    base = 1_000_003 * s + 7919 * n
    train = market.training_set(n, seed=base + 1)
    val = market.training_set(max(64, round(cell["val_fraction"] * n)), seed=base + 2)
    test = market.test_set(cell["n_test"], seed=10_000 + cell["market_seed"])
    return market, train, val, test


def _errors(pred, test) -> dict:
    x, price, delta = test
    y, dy = pred(x)
    return {
        "value_rmse": float(np.sqrt(np.mean((y - price) ** 2))),
        "delta_rmse": float(np.sqrt(np.mean((dy - delta) ** 2))),
    }


def _select(trials: list[dict]) -> dict:
    """The trial with the lowest held-out value MSE, with every trial's record."""
    best = min(range(len(trials)), key=lambda i: trials[i]["val_mse"])
    record = {k: v for k, v in trials[best].items() if k != "predict"}
    record["trials"] = [
        {k: t[k] for k in ("params", "val_mse", "converged", "fit_seconds") if k in t}
        for t in trials
    ]
    record["tuning_seconds"] = sum(t["fit_seconds"] for t in trials)
    return record, trials[best]["predict"]


def _net_method(cell, train, val, test, *, differential, trial_params):
    x, y, dy = train
    trials = []
    for params in trial_params:
        kw = {"lr": params[0], "weight_decay": params[1]} if not differential else {"lr": params}
        net = train_net(
            x, y, dy, val[0], val[1], differential=differential, hidden=tuple(cell["hidden"]),
            epochs=cell["epochs"], batches=cell["batches"], min_batch=cell["min_batch"],
            seed=cell["seed"], **kw,
        )  # fmt: skip
        trials.append(
            {
                "params": kw,
                "val_mse": min(net.val_curve),
                "converged": converged(net.val_curve),
                "best_epoch": net.best_epoch,
                "fit_seconds": net.fit_seconds,
                "final_terms": net.final_terms,
                "predict": net.predict,
            }
        )
    record, predict = _select(trials)
    return record | _errors(predict, test), predict


def _val_mse(predict, val) -> float:
    return float(np.mean((predict(val[0])[0] - val[1]) ** 2))


def _peer(name, cell, train, val, test) -> dict:
    x, y, dy = train
    if name == "genn":
        trials = []
        for alpha, lambd in cell["genn_trials"]:
            predict, secs = _smt.fit_genn(
                x, y, dy, alpha=alpha, lambd=lambd, hidden=(20, 20),
                iterations=cell["genn_iterations"], seed=cell["seed"],
            )  # fmt: skip
            trials.append(
                {
                    "params": {"alpha": alpha, "lambd": lambd},
                    "val_mse": _val_mse(predict, val),
                    "fit_seconds": secs,
                    "predict": predict,
                }
            )
        record, predict = _select(trials)
    else:
        predict, secs = _smt.fit_krg(x, y) if name == "krg" else _smt.fit_gekpls(x, y, dy)
        record = {"params": {}, "val_mse": _val_mse(predict, val), "fit_seconds": secs}
        record["tuning_seconds"] = secs
    return record | _errors(predict, test)


def run_cell(cell: dict) -> dict:
    """Train every method of one cell and measure its test errors."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    market, train, val, test = _data(cell)
    out: dict = {"kind": cell["kind"], "methods": {}, "skipped": {}}
    if cell["kind"] == "projections":
        for name, proj in (("differential", None), ("projections_1", 1)):
            net = train_net(
                *train, val[0], val[1], differential=True, lr=cell["lr"], projections=proj,
                hidden=tuple(cell["hidden"]), epochs=cell["epochs"], batches=cell["batches"],
                min_batch=cell["min_batch"], seed=cell["seed"],
            )  # fmt: skip
            out["methods"][name] = {
                "val_mse": min(net.val_curve),
                "converged": converged(net.val_curve),
                "fit_seconds": net.fit_seconds,
                **_errors(net.predict, test),
            }
        return out | {"seconds": time.perf_counter() - t0}
    preds = {}
    for name, differential, trial_params in (
        ("classical", False, cell["classical_trials"]),
        ("differential", True, cell["differential_trials"]),
    ):
        out["methods"][name], preds[name] = _net_method(
            cell, train, val, test, differential=differential, trial_params=trial_params
        )
    if cell["kind"] == "figure":
        x, price, delta = test
        idx = np.linspace(0, len(x) - 1, cell["points"]).round().astype(int)
        # The delta drawn is the basket delta: the sum over assets of d price / d x_j.
        curves = {"basket": market.basket(x[idx]).tolist(), "price": price[idx].tolist()}
        curves["delta"] = delta[idx].sum(1).tolist()
        for name, predict in preds.items():
            y, dy = predict(x[idx])
            curves[name] = {"price": y.tolist(), "delta": dy.sum(1).tolist()}
        out["curves"] = curves
    for name, feasible in cell.get("peers", {}).items():
        if feasible:
            out["methods"][name] = _peer(name, cell, train, val, test)
        else:
            out["skipped"][name] = "rows over the configured limit or unsupported at d = 1"
    return out | {"seconds": time.perf_counter() - t0}


#: Quick: two dimensions, three sizes, two seeds, one trial, a short schedule (CI).
QUICK = {
    "dims": [1, 3],
    "ns": [256, 512, 1024],
    "seeds": 2,
    "epochs": 10,
    "batches": 8,
    "min_batch": 64,
    "n_test": 512,
    "classical_trials": [[0.1, 0.0]],
    "differential_trials": [0.1],
    "peers": ["genn"],
    "genn_trials": [[0.05, 0.01]],
    "genn_iterations": 100,
    "genn_max_rows": 1024,
    "projection_dims": [5],
    "projection_n": 256,
    "figure_ns": [256],
    "figure_points": 21,
}

STUDY = Study(
    name="differential_ml",
    description="Differential ML (Huge & Savine): twin vs classical nets on noisy pathwise labels",
    config=DifferentialMLConfig,
    presets={"quick": QUICK, "full": {}},
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
