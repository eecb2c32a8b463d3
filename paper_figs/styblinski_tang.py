"""Figure 1: Styblinski-Tang, its regular and Sobolev fits, and their gradient fields.

Top row: the function (true, regular fit, Sobolev fit) as filled contours over the
domain with the training points; bottom row: the gradient field of each as arrows.
Reads the seed-0 grid stored by the regression study.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("regression/fixed/result.json",),
    "quick": ("regression/quick/result.json",),
}
N_TRAIN = "20"


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``styblinski_tang.png``/``.pdf`` from ``results/regression/fixed/result.json``."""
    grids = _io.payload(paths[0])["grids"]["styblinski_tang"]
    grid = grids[N_TRAIN] if N_TRAIN in grids else grids[sorted(grids, key=int)[0]]
    x1, x2 = _io.array(grid["x1"]), _io.array(grid["x2"])
    panels = [("true function", _io.array(grid["true_values"]), _io.array(grid["true_gradients"]))]
    for method in ("regular", "sobolev"):
        m = grid["methods"][method]
        panels.append(
            (f"{_style.label(method)} fit", _io.array(m["values"]), _io.array(m["gradients"]))
        )
    train = _io.array(grid["train_x"])
    levels = np.linspace(panels[0][1].min(), panels[0][1].max(), 15)
    fig, axes = plt.subplots(2, 3, figsize=(9.0, 6.0), sharex=True, sharey=True)
    step = max(1, len(x1) // 20)
    X1, X2 = np.meshgrid(x1, x2, indexing="xy")
    s = (slice(None, None, step), slice(None, None, step))
    # Gradient norms span two orders of magnitude over the domain (cubic terms), so
    # arrows show direction at unit length and their colour the norm, on one shared
    # logarithmic scale for the three panels.
    norms = [np.linalg.norm(g[s], axis=-1) for _, _, g in panels]
    positive = (
        np.concatenate([n[n > 0] for n in norms])
        if any((n > 0).any() for n in norms)
        else np.ones(1)
    )
    cnorm = matplotlib.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
    spacing = float(x1[step] - x1[0])
    for col, (title, values, grads) in enumerate(panels):
        ax = axes[0, col]
        cs = ax.contourf(x1, x2, values, levels=levels, cmap="viridis", extend="both")
        ax.scatter(train[:, 0], train[:, 1], s=10, c="white", edgecolors="black", linewidths=0.5)
        ax.set_title(title)
        ax = axes[1, col]
        g = grads[s]
        size = np.linalg.norm(g, axis=-1)
        unit = g / np.where(size > 0, size, 1.0)[..., None]
        q = ax.quiver(
            X1[s],
            X2[s],
            unit[..., 0],
            unit[..., 1],
            np.clip(size, cnorm.vmin, None),
            cmap="plasma",
            norm=cnorm,
            angles="xy",
            scale_units="xy",
            scale=1.25 / spacing,
            width=0.006,
        )
        ax.set_title(f"{title}: gradient field")
        ax.set_xlabel("$x_1$")
        ax.set_aspect("equal")
        axes[0, col].set_aspect("equal")
    axes[0, 0].set_ylabel("$x_2$")
    axes[1, 0].set_ylabel("$x_2$")
    fig.colorbar(cs, ax=axes[0, :].tolist(), shrink=0.8, label="f(x)")
    fig.colorbar(q, ax=axes[1, :].tolist(), shrink=0.8, label="gradient norm (arrows: direction)")
    fig.suptitle(
        f"Styblinski-Tang, {len(train)} training points (white), 2-256-256-1 ReLU MLP, seed 0"
    )
    return _style.save(fig, out, "styblinski_tang")
