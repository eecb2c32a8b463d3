"""Figure 4: sample complexity: test error vs number of training points.

Per target function and metric (rows) and input dimension (columns), the relative
L^2 and W^{1,2} errors on the whole domain
(geometric mean over seeds, band: min to max) against the number of training points
for each training order, with the fitted power law ``error ~ C n^-a`` (dashed, over
its fitted range) and its exponent in the legend.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("samples/full/result.json",),
    "quick": ("samples/quick/result.json",),
}
METRICS = (("l2", "$L^2$"), ("w12", "$W^{1,2}$"))
LABELS = {
    "order1": "Sobolev (order 1, balanced weights)",
    "order1_unit": "Sobolev (order 1, unit weights)",
}


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``sample_complexity.png``/``.pdf`` from the sample-complexity result file."""
    curves = _io.payload(paths[0])["curves"]
    functions = sorted({c["function"] for c in curves}, key=lambda f: f != "styblinski_tang")
    dims = sorted({c["dim"] for c in curves})
    methods = list(dict.fromkeys(c["method"] for c in curves))
    rows = [(f, m) for f in functions for m in METRICS]
    fig, axes = plt.subplots(
        len(rows), len(dims), figsize=(3.1 * len(dims), 2.8 * len(rows)), squeeze=False,
        sharex=True,
    )  # fmt: skip
    for col, dim in enumerate(dims):
        for row, (function, (metric, name)) in enumerate(rows):
            ax = axes[row, col]
            for k, method in enumerate(methods):
                c = next(
                    (
                        c
                        for c in curves
                        if c["function"] == function and c["dim"] == dim and c["method"] == method
                    ),
                    None,
                )
                if c is None or not c["n"]:
                    continue
                n, err = _io.array(c["n"]), _io.array(c["errors"][metric])  # (seeds, K)
                color = _style.color(method, k)
                fit = (c.get("fits") or {}).get(metric)
                rate = f", a = {fit['exponent']:.2f}" if fit else ""
                label = LABELS.get(method, _style.label(method)) + rate
                ax.plot(
                    n, np.exp(np.log(err).mean(0)), "o-", markersize=3, color=color, label=label
                )
                ax.fill_between(n, err.min(0), err.max(0), color=color, alpha=0.15, linewidth=0)
                if fit:
                    xs = np.geomspace(*fit["x_range"], 20)
                    ax.plot(
                        xs,
                        fit["prefactor"] * xs ** -fit["exponent"],
                        "--",
                        color=color,
                        linewidth=0.9,
                    )
            if not ax.lines:  # e.g. Rosenbrock has no 1-D form
                ax.set_axis_off()
                continue
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.legend(fontsize=6, frameon=False, loc="lower left")
            if col == 0:
                ax.set_ylabel(f"{function.replace('_', ' ')}\nrelative {name} error")
            if row == 0:
                ax.set_title(f"d = {dim}")
        axes[-1, col].set_xlabel("training points n")
    fig.suptitle(
        "Sample complexity (float64 tanh MLP, Adam then L-BFGS; geometric mean over seeds, "
        "band: min-max; dashed: fitted C n^-a)"
    )
    fig.tight_layout()
    return _style.save(fig, out, "sample_complexity")
