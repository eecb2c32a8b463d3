"""Figure 3: universal approximation in Sobolev norms: error vs width.

For the 1-D target of the universal-approximation study (one hidden layer), the
relative L^2, W^{1,2} and W^{1,inf} distances to the target against the width, per
activation (columns) and training method, mean ± s.e. over seeds, with the explicit
piecewise-linear ReLU construction of Theorem 1 as the reference (grey, dashed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from sobolev_lab.paper_figs import _io, _style
from sobolev_lab.stats import mean_sem

REQUIRES = {
    "full": ("universal/full/result.json",),
    "quick": ("universal/quick/result.json",),
}
METRICS = (("l2", "$L^2$"), ("w12", "$W^{1,2}$"), ("w1inf", "$W^{1,\\infty}$"))
ACTIVATIONS = ("relu", "leaky_relu", "softplus", "tanh")
LABELS = {"warm_start": "regular, started from the construction"}
COLORS = {"warm_start": "black"}


def _target(curves: list[dict]) -> tuple[str, int]:
    """The lowest-dimensional (function, dim) with one hidden layer."""
    keys = sorted({(c["dim"], c["function"]) for c in curves if c["hidden_layers"] == 1})
    return keys[0][1], keys[0][0]


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``universal.png``/``.pdf`` from the universal-approximation result file."""
    pay = _io.payload(paths[0])
    function, dim = _target(pay["curves"])
    curves = [
        c
        for c in pay["curves"]
        if c["function"] == function and c["dim"] == dim and c["hidden_layers"] == 1
    ]
    activations = [a for a in ACTIVATIONS if any(c["activation"] == a for c in curves)]
    methods = list(dict.fromkeys(c["method"] for c in curves))
    reference = next((r for r in pay.get("reference", []) if r["function"] == function), None)
    fig, axes = plt.subplots(
        len(METRICS),
        len(activations),
        figsize=(3.0 * len(activations), 7.0),
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    for col, act in enumerate(activations):
        for row, (metric, name) in enumerate(METRICS):
            ax = axes[row, col]
            for k, method in enumerate(methods):
                c = next(
                    (c for c in curves if c["activation"] == act and c["method"] == method), None
                )
                if c is None or not c["widths"]:
                    continue
                err = _io.array(c["errors"][metric])  # (seeds, widths)
                mean, se = mean_sem(err)
                fit = (c.get("fits") or {}).get(metric)
                rate = f" (rate {fit['exponent']:.2f})" if fit else ""
                ax.errorbar(
                    c["widths"],
                    mean,
                    yerr=se,
                    marker="o",
                    markersize=3,
                    capsize=2,
                    color=COLORS.get(method, _style.color(method, k)),
                    label=LABELS.get(method, _style.label(method)),
                )
                ax.annotate(
                    rate.strip(" ()"),
                    xy=(c["widths"][-1], mean[-1]),
                    fontsize=6,
                    color=_style.color(method, k),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                )
            if reference is not None:
                ax.plot(
                    reference["widths"],
                    reference["errors"][metric],
                    "--",
                    color=_style.color("construction"),
                    label=_style.label("construction"),
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            if col == 0:
                ax.set_ylabel(f"relative {name} error")
            if row == 0:
                ax.set_title(act.replace("_", " "))
        axes[-1, col].set_xlabel("hidden width")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(
        f"Error vs width, {function.replace('_', ' ')} in d = {dim}, one hidden layer "
        "(mean ± s.e. over seeds; labels: fitted rate a in error ~ width^-a)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    return _style.save(fig, out, "universal")
