"""The regression study: regular vs Sobolev training on classical test functions.

One *cell* is a (function, training-set size, step budget): every seed and every
method of a cell is trained at once as vectorised ensembles
(:func:`sobolev.ensemble.fit_ensemble`): one ensemble of order-0 members and one of
order-1 members (exact and estimated gradients side by side). The runner
(:mod:`sobolev_lab.runner`) sweeps the cells, so an interrupted study resumes where it
stopped.

Data. Seed ``s`` draws the ``n`` training points from
``numpy.random.default_rng([s, n, 0])`` and the test points from
``default_rng([s, 1])`` (the same test set for every ``n``), uniformly on the
domain, with no margin around kinks (the paper's setting). Member ``s`` of every
method starts from ``sobolev.MLP(..., seed=s)``: the methods see identical data and
initial weights.

Normalisation (``normalise=True``, identical for all methods, one
:class:`sobolev.standardize.Standardizer` per seed): inputs
``u = (x - c) / r`` with ``c, r`` the centre and half-widths of the domain (so the
domain is ``[-1, 1]^d``); values ``v = (y - mean) / std`` with the mean and standard
deviation of the seed's *training* values; derivatives ``dv/du = (r / std) dy/dx``.
Value and derivative terms have unit weights in these units. Test metrics are in the
original units: predictions are mapped back.

Kinks (Ackley at the origin, Bukin N.6 on its ridge and on ``x1 = -10``): targets
follow :mod:`sobolev_lab.theory.functions`' convention (each non-smooth summand contributes 0 to
the gradient at the kink, never NaN); uniform points hit the kink set with
probability 0. Near Bukin N.6's ridge ``|grad f|`` grows like ``dist^-1/2``, so its
gradient MSE is dominated by the test points closest to the ridge; metrics are also
reported on the test points at least ``kink_margin`` (a fraction of the domain
diagonal) away from the kink set (``*_away`` keys).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from sobolev.standardize import Standardizer

__all__ = ["prepare", "run_cell"]


def _data(f, seed: int, n_train: int, n_test: int) -> dict[str, np.ndarray]:
    x = f.sample(n_train, rng=np.random.default_rng([seed, n_train, 0]))
    xt = f.sample(n_test, rng=np.random.default_rng([seed, 1]))
    return {"x": x, "y": f.value(x), "g": f.grad(x), "xt": xt, "yt": f.value(xt), "gt": f.grad(xt)}


def _standardizers(f, ys: np.ndarray, normalise: bool) -> list[Standardizer]:
    """One per member (seed): the domain to ``[-1, 1]^d``, values by the seed's training
    mean and standard deviation; the identity without ``normalise``."""
    if not normalise:
        return [Standardizer(np.zeros(f.dim), np.ones(f.dim), 0.0, 1.0) for _ in ys]
    lower, upper = f.domain
    return [Standardizer.from_bounds(lower, upper, y) for y in ys]


def _forward(scs: list[Standardizer], x=None, y=None, dy=None) -> list[np.ndarray | None]:
    """Member ``e`` of the stacked ``x`` (E, N, d), ``y`` (E, N), ``dy`` (E, N, d) through
    ``scs[e].transform``: the stacked standardised arrays."""
    parts = [
        sc.transform(*(None if a is None else a[e] for a in (x, y, dy))) for e, sc in enumerate(scs)
    ]
    return [
        None if a is None else np.stack([p[k] for p in parts]) for k, a in enumerate((x, y, dy))
    ]


def _backward(scs: list[Standardizer], v: np.ndarray, dv: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stacked predictions ``v`` (E, N) and ``dv`` (E, N, d) back to original units."""
    parts = [sc.inverse(None, v[e], dv[e])[1:3] for e, sc in enumerate(scs)]
    return np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts])


def _metrics(yp, gp, yt, gt, away: np.ndarray | None) -> dict[str, list[float]]:
    """Per-member test MSEs; ``away`` (E, N) masks points far from kinks."""
    se_v = (yp - yt) ** 2
    se_g = ((gp - gt) ** 2).sum(2)
    out = {
        "test_mse_values": se_v.mean(1).tolist(),
        "test_mse_gradients": se_g.mean(1).tolist(),
        "test_nmse_values": (se_v.mean(1) / yt.var(1)).tolist(),
    }
    if away is not None:
        out["test_mse_values_away"] = [float(s[m].mean()) for s, m in zip(se_v, away, strict=True)]
        out["test_mse_gradients_away"] = [
            float(s[m].mean()) for s, m in zip(se_g, away, strict=True)
        ]
    for key, vals in out.items():
        if not all(math.isfinite(v) for v in vals):
            raise FloatingPointError(f"non-finite {key}: {vals}")
    return out


def prepare(f, cell: dict[str, Any]) -> tuple:
    """The data of every seed of ``cell``, stacked and standardised.

    Returns
    -------
    tuple
        ``stack`` (raw ``x, y, g, xt, yt, gt`` stacked over seeds), the per-seed
        standardizers, standardised ``u`` (S, n, d), ``v`` (S, n), ``dv`` (S, n, d) and
        test inputs ``ut`` (S, n_test, d), the ``away`` mask (S, n_test) of test points
        far from kinks (None for smooth functions) and its ``margin`` (None likewise).
    """
    data = [_data(f, s, cell["n_train"], cell["n_test"]) for s in cell["seeds"]]
    stack = {k: np.stack([dd[k] for dd in data]) for k in data[0]}
    scs = _standardizers(f, stack["y"], cell["normalise"])
    u, v, dv = _forward(scs, stack["x"], stack["y"], stack["g"])
    (ut,) = _forward(scs, stack["xt"])[:1]
    away = margin = None
    if not f.smooth:
        lower, upper = (np.asarray(b, dtype=np.float64) for b in f.domain)
        margin = cell["kink_margin"] * float(np.linalg.norm(upper - lower))
        away = np.stack([f.distance_to_kink(xt) >= margin for xt in stack["xt"]])
    return stack, scs, u, v, dv, ut, away, margin


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate every seed and method of one cell (a top-level sweep function).

    Returns
    -------
    dict
        ``methods``: per method, per-seed lists of test metrics, final training loss
        terms and seconds; ``kink``: how points near kinks were handled; ``grid``
        (when ``grid_size > 0``): seed-0 predictions and gradients of every method.
    """
    from sobolev.ensemble import MLPEnsemble, fit_ensemble
    from sobolev_lab.theory.functions import get

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # identical numbers whatever the caller's thread count
    try:
        f = get(cell["function"], cell["dim"])
        dtype = getattr(torch, cell["dtype"])
        seeds = cell["seeds"]
        stack, scs, u, v, dv, ut, away, margin = prepare(f, cell)
        groups: list[tuple[str, np.ndarray | None]] = []
        for m in cell["methods"]:
            if m == "regular":
                groups.append((m, None))
            elif m == "sobolev":
                groups.append((m, dv))
            else:
                from sobolev.estimate import estimate_gradients

                # Neighbours are found in normalised inputs (the domain as [-1, 1]^d).
                est = np.stack(
                    [
                        estimate_gradients(ue, ve, cell["n_neighbors"])
                        for ue, ve in zip(u, v, strict=True)
                    ]
                )
                groups.append((m, est))
        out: dict[str, Any] = {"methods": {}}
        if away is not None:
            out["kink"] = {
                "margin": margin,
                "fraction_excluded_from_away_metrics": float(1 - away.mean()),
                "train_min_distance": [float(f.distance_to_kink(x).min()) for x in stack["x"]],
                "handling": "uniform sampling without margin; registry convention "
                "(0 gradient contribution at the kink); *_away metrics exclude test "
                "points closer than margin to the kink set",
            }
        models = {}
        # One ensemble per loss order: regular members skip the Jacobian entirely.
        for order in (0, 1):
            members = [(m, g) for m, g in groups if (m == "regular") == (order == 0)]
            if not members:
                continue
            e = len(members) * len(seeds)
            ens = MLPEnsemble.from_seeds(
                f.dim, 1, cell["hidden"], cell["activation"], seeds * len(members), dtype=dtype
            )
            xs = np.concatenate([u] * len(members))
            ys = np.concatenate([v] * len(members))
            dys = None if order == 0 else np.concatenate([g for _, g in members])
            t0 = time.perf_counter()
            hist = fit_ensemble(
                ens,
                torch.as_tensor(xs, dtype=dtype),
                torch.as_tensor(ys, dtype=dtype),
                None if dys is None else torch.as_tensor(dys, dtype=dtype),
                weights=(1.0, float(order)),
                steps=cell["steps"],
                lr=cell["lr"],
                schedule=cell["schedule"],
                seed=0,
                progress=False,
            )
            seconds = time.perf_counter() - t0
            yp, jp = ens.predict(torch.as_tensor(np.concatenate([ut] * len(members)), dtype=dtype))
            yp = yp[..., 0].double().numpy()
            jp = jp[:, :, 0].double().numpy()
            for k, (m, _) in enumerate(members):
                sl = slice(k * len(seeds), (k + 1) * len(seeds))
                pred_v, pred_g = _backward(scs, yp[sl], jp[sl])
                res = _metrics(pred_v, pred_g, stack["yt"], stack["gt"], away)
                res["train_loss_order0"] = hist["order0"][-1, sl].tolist()
                if order == 1:
                    res["train_loss_order1"] = hist["order1"][-1, sl].tolist()
                    # Error of the gradient targets themselves (0 for exact ones).
                    res["target_gradient_mse_train"] = (
                        ((_backward(scs, yp[sl], dys[sl])[1] - stack["g"]) ** 2).sum(2).mean(1)
                    ).tolist()
                res["seconds_ensemble"] = seconds
                res["ensemble_members"] = e
                out["methods"][m] = res
            models[order] = (ens, [m for m, _ in members])
        if cell["grid_size"]:
            out["grid"] = _grid(f, cell["grid_size"], scs[0], models, stack, dtype)
        return out
    finally:
        torch.set_num_threads(threads)


def _grid(f, size: int, sc0: Standardizer, models, stack, dtype) -> dict[str, Any]:
    """Seed-0 fits of every method on a ``size`` x ``size`` grid (2-D functions)."""
    if f.dim != 2:
        return {}
    lower, upper = (np.asarray(b, dtype=np.float64) for b in f.domain)
    g1, g2 = np.linspace(lower[0], upper[0], size), np.linspace(lower[1], upper[1], size)
    xx = np.stack(np.meshgrid(g1, g2, indexing="xy"), -1).reshape(-1, 2)  # row i: x2 = g2[i]
    out: dict[str, Any] = {
        "x1": g1.tolist(),
        "x2": g2.tolist(),
        "layout": "arrays are (len(x2), len(x1)); gradients (len(x2), len(x1), 2)",
        "true_values": f.value(xx).reshape(size, size).tolist(),
        "true_gradients": f.grad(xx).reshape(size, size, 2).tolist(),
        "train_x": stack["x"][0].tolist(),
        "methods": {},
    }
    u = torch.as_tensor(sc0.transform(xx)[0], dtype=dtype)
    for ens, methods in models.values():
        n_seeds = ens.n_members // len(methods)
        yp, jp = ens.predict(u)
        for k, m in enumerate(methods):
            e = k * n_seeds  # seed 0 of method m
            _, v, g, _ = sc0.inverse(
                None, yp[e, :, 0].double().numpy(), jp[e, :, 0].double().numpy()
            )
            out["methods"][m] = {
                "values": v.reshape(size, size).tolist(),
                "gradients": g.reshape(size, size, 2).tolist(),
            }
    return out
