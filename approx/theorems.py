"""Figure data for the paper's theorems, computed from ``theory.constructions``.

Nothing is trained: the networks are built explicitly. The output file
``results/approx/theorems.json`` holds

* ``theorem1``: ``f(x) = sin(3x) + x^2/2`` on [0, 2]; for a coarse interpolant
  (``curve_knots`` knots) the curves ``x, f, f', h, h'`` on a fine grid, and for
  ``knots`` the W^{1,inf} and W^{1,2} distances with the fitted rates;
* ``interpolation``: random points in 1-D with random values and slopes, the
  interpolating ReLU network's curve ``h, h'`` on a grid, and the Sobolev training
  loss of that construction for random point sets in d = 1, 2, 5, 10;
* ``theorem2``: :func:`theory.constructions.coupling_demo` (lower bound and minimax
  polynomial fits for a consistent and an inconsistent derivative target).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sobolev.results import write_result
from theory import constructions

CONFIG = {
    "curve_knots": 6,
    "knots": [4, 8, 16, 32, 64, 128],
    "n_points": 6,
    "seed": 0,
    "interval": [0.0, 2.0],
    "grid": 801,
    "loss_dims": [1, 2, 5, 10],
    "loss_points": 25,
}


def _f(x):
    return np.sin(3 * x) + x**2 / 2


def _f_torch(t):
    return torch.sin(3 * t[:, 0]) + t[:, 0] ** 2 / 2


def _curve(net: torch.nn.Module, x: np.ndarray) -> tuple[list, list]:
    xt = torch.tensor(x[:, None], dtype=torch.float64, requires_grad=True)
    y = net(xt)[:, 0]
    (dy,) = torch.autograd.grad(y.sum(), xt)
    return y.detach().numpy().tolist(), dy[:, 0].numpy().tolist()


def compute(config: dict | None = None) -> dict:
    """The figure data (see the module docstring)."""
    cfg = {**CONFIG, **(config or {})}
    a, b = cfg["interval"]
    x = np.linspace(a, b, cfg["grid"])
    net = constructions.relu_interpolant_1d(_f, a, b, cfg["curve_knots"])
    h, dh = _curve(net, x)
    table = constructions.convergence_table(_f_torch, a, b, cfg["knots"], f_numpy=_f, n_quad=2048)
    theorem1 = {
        "x": x.tolist(),
        "f": _f(x).tolist(),
        "df": (3 * np.cos(3 * x) + x).tolist(),
        "h": h,
        "dh": dh,
        "curve_knots": cfg["curve_knots"],
        "knots_x": np.linspace(a, b, cfg["curve_knots"]).tolist(),
        "table": table,
        "rate_w1inf": constructions.fitted_rate(cfg["knots"], [r["w1inf"] for r in table]),
        "rate_w12": constructions.fitted_rate(cfg["knots"], [r["w12"] for r in table]),
    }
    rng = np.random.default_rng(cfg["seed"])
    # Evenly spread (jittered) points keep the bumps wide enough to see.
    pts = np.linspace(-2, 2, cfg["n_points"]) + rng.uniform(-0.15, 0.15, cfg["n_points"])
    vals, slopes = rng.normal(size=cfg["n_points"]), 2 * rng.normal(size=cfg["n_points"])
    inet = constructions.interpolating_relu_network(pts[:, None], vals, slopes[:, None])
    xi = np.linspace(-2.5, 2.5, cfg["grid"])
    ih, idh = _curve(inet, xi)
    losses = []
    for d in cfg["loss_dims"]:
        p = rng.normal(size=(cfg["loss_points"], d))
        fv, gv = (
            5 * rng.normal(size=cfg["loss_points"]),
            3 * rng.normal(size=(cfg["loss_points"], d)),
        )
        m = constructions.interpolating_relu_network(p, fv, gv)
        losses.append({"dim": d, "loss": float(constructions.sobolev_training_loss(m, p, fv, gv))})
    interpolation = {
        "points": pts.tolist(),
        "values": vals.tolist(),
        "slopes": slopes.tolist(),
        "x": xi.tolist(),
        "h": ih,
        "dh": idh,
        "losses": losses,
    }
    demo = constructions.coupling_demo()
    theorem2 = {
        "bound": demo["bound"],
        "interval": list(demo["interval"]),
        "inconsistent": demo["inconsistent"],
        "consistent": demo["consistent"],
    }
    return {
        "config": cfg,
        "theorem1": theorem1,
        "interpolation": interpolation,
        "theorem2": theorem2,
    }


def run(out: str | Path = "results/approx") -> Path:
    """Compute the figure data and write ``out/theorems.json``."""
    torch.set_num_threads(1)
    payload = compute()
    return write_result(Path(out) / "theorems.json", payload, payload["config"])
