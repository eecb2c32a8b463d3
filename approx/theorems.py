"""Figure data for the paper's theorems, computed from ``sobolev_lab.theory.constructions``.

Nothing is trained: the networks are built explicitly. The output file
``results/theorems/<preset>/result.json`` holds

* ``theorem1``: ``f(x) = sin(3x) + x^2/2`` on [0, 2]; for a coarse interpolant
  (``curve_knots`` knots) the curves ``x, f, f', h, h'`` on a fine grid, and for
  ``knots`` the W^{1,inf} and W^{1,2} distances with the fitted rates;
* ``interpolation``: random points in 1-D with random values and slopes, the
  interpolating ReLU network's curve ``h, h'`` on a grid, and the Sobolev training
  loss of that construction for random point sets in d = 1, 2, 5, 10;
* ``theorem2``: :func:`sobolev_lab.theory.constructions.coupling_demo` (lower bound and minimax
  polynomial fits for a consistent and an inconsistent derivative target).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.study import Study
from sobolev_lab.tables import csv_text, fmt, markdown_table
from sobolev_lab.theory import constructions


@dataclass(frozen=True)
class TheoremsConfig(StudyConfig):
    """The explicit constructions behind Theorem 1, the Proposition and Theorem 2."""

    curve_knots: int = param(6, "knots of the coarse interpolant drawn in the Theorem 1 panel")
    knots: tuple[int, ...] = param([4, 8, 16, 32, 64, 128], "knot counts of the rate table")
    n_points: int = param(6, "random 1-D points of the interpolation panel")
    seed: int = param(0, "seed of the random points, values and slopes")
    interval: tuple[float, ...] = param([0.0, 2.0], "domain [a, b] of the Theorem 1 target")
    grid: int = param(801, "points of the drawn curves")
    loss_dims: tuple[int, ...] = param([1, 2, 5, 10], "dimensions of the interpolation check")
    loss_points: int = param(25, "random points per dimension of the interpolation check")

    def validate(self) -> None:
        for key in ("curve_knots", "n_points", "grid", "loss_points"):
            check_positive_int(getattr(self, key), key, minimum=2)
        check_nonnegative_int(self.seed, "seed")
        if not self.knots or any(k < 2 for k in self.knots):
            raise ValueError(f"knots must be integers >= 2, got {self.knots!r}")
        if len(self.interval) != 2 or not self.interval[0] < self.interval[1]:
            raise ValueError(f"interval must be [a, b] with a < b, got {self.interval!r}")
        if not self.loss_dims or any(d < 1 for d in self.loss_dims):
            raise ValueError(f"loss_dims must be positive integers, got {self.loss_dims!r}")


def _f(x):
    return np.sin(3 * x) + x**2 / 2


def _f_torch(t):
    return torch.sin(3 * t[:, 0]) + t[:, 0] ** 2 / 2


def _curve(net: torch.nn.Module, x: np.ndarray) -> tuple[list, list]:
    xt = torch.tensor(x[:, None], dtype=torch.float64, requires_grad=True)
    y = net(xt)[:, 0]
    (dy,) = torch.autograd.grad(y.sum(), xt)
    return y.detach().numpy().tolist(), dy[:, 0].numpy().tolist()


def compute(cfg: dict) -> dict:
    """The figure data (see the module docstring) of a :class:`TheoremsConfig` dict."""
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


def cells(config: TheoremsConfig) -> list[dict]:
    """One cell: the whole computation takes seconds."""
    return [config.to_dict()]


def run_cell(cell: dict) -> dict:
    """The figure data of one config."""
    return compute(cell)


#: Sobolev training losses below this count as reaching zero (float64 round-off).
ZERO_LOSS = 1e-20


def summarise(config: TheoremsConfig, cells_: list[dict], payloads: list[dict]) -> dict:
    """The figure data, with the numerical checks of each statement."""
    (data,) = payloads
    t1, interp, t2 = data["theorem1"], data["interpolation"], data["theorem2"]
    fits = [f["max_error"] for f in t2["inconsistent"]]
    checks = [
        {
            "statement": "Theorem 1: ReLU interpolants converge in W^{1,inf} (rate about 1)",
            "measured": -t1["rate_w1inf"],
            "holds": bool(-t1["rate_w1inf"] > 0.8),
        },
        {
            "statement": "Proposition: zero Sobolev training loss is reachable on any finite set",
            "measured": max(r["loss"] for r in interp["losses"]),
            "holds": all(r["loss"] < ZERO_LOSS for r in interp["losses"]),
        },
        {
            "statement": "Theorem 2: with g != f', no fit is uniformly close to both",
            "measured": min(fits),
            "holds": bool(min(fits) >= t2["bound"]),
        },
    ]
    return {
        **{k: v for k, v in data.items() if k != "config"},
        "checks": checks,
        "verdicts": [],
        "convergence": {
            "trainings": 0,
            "converged": 0,
            "criterion": "none: the networks are explicit constructions, nothing is trained",
        },
    }


def render(config: TheoremsConfig, summary: dict) -> dict[str, str]:
    """``result.csv`` (the Theorem 1 rate table) and ``result.md`` (the checks)."""
    t1 = summary["theorem1"]
    rows = [{"knots": r["n_knots"], "w1inf": r["w1inf"], "w12": r["w12"]} for r in t1["table"]]
    md = "# Theorems: numerical checks of the explicit constructions\n\n"
    md += markdown_table(
        ["statement", "measured", "holds"],
        [
            [c["statement"], fmt(c["measured"]), "yes" if c["holds"] else "**no**"]
            for c in summary["checks"]
        ],
    )
    md += "\nTheorem 1 interpolant, distance to f = sin(3x) + x^2/2 on the interval:\n\n"
    md += markdown_table(
        ["knots", "W^{1,inf}", "W^{1,2}"],
        [[r["knots"], fmt(r["w1inf"]), fmt(r["w12"])] for r in rows],
    )
    md += (
        f"\nFitted slopes of log error against log knots: W^{{1,inf}} {fmt(t1['rate_w1inf'])}, "
        f"W^{{1,2}} {fmt(t1['rate_w12'])} (theory: -1).\n"
    )
    return {"result.csv": csv_text(rows), "result.md": md}


STUDY = Study(
    name="theorems",
    description="Theorem 1, the interpolation Proposition and Theorem 2 by explicit constructions",
    config=TheoremsConfig,
    presets={"quick": {"knots": [4, 8, 16], "loss_dims": [1, 2]}, "full": {}},
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
