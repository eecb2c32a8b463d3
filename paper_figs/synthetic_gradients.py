"""Figure 6: synthetic gradients on digits: accuracy and gradient quality over training.

Top: test accuracy (mean ± s.e. over seeds) per method; bottom: cosine similarity of
the synthetic gradient with the true dL/dh (decoupled methods only); one column per
number of synthetic-gradient modules.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("synthetic_gradients/full/result.json",),
    "quick": ("synthetic_gradients/quick/result.json",),
}
LINESTYLES = ("-", "--", ":")
METHODS = ("backprop", "sobolev", "critic", "sg", "noprop")


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``synthetic_gradients.png``/``.pdf`` from ``synthetic_gradients/<name>/result.json``."""
    pay = _io.payload(paths[0])
    curves = pay["curves"]
    modules = sorted({int(k.split("/")[1]) for k in curves})
    methods = [m for m in METHODS if any(k.startswith(f"{m}/") for k in curves)]
    methods += sorted({k.split("/")[0] for k in curves} - set(methods))
    fig, axes = plt.subplots(
        2, len(modules), figsize=(4.4 * len(modules), 6.0), squeeze=False, sharex=True
    )
    for col, n_mod in enumerate(modules):
        acc_ax, cos_ax = axes[0, col], axes[1, col]
        for k, method in enumerate(methods):
            c = curves.get(f"{method}/{n_mod}")
            if c is None:
                continue
            step = _io.array(c["step"])
            acc, se = 100 * _io.array(c["test_acc_mean"]), 100 * _io.array(c["test_acc_se"])
            style = {"color": _style.color(method, k), "label": _style.label(method)}
            acc_ax.plot(step, acc, **style)
            acc_ax.fill_between(
                step, acc - se, acc + se, color=style["color"], alpha=0.2, linewidth=0
            )
            if "cosine_mean" in c:
                cos = _io.array(c["cosine_mean"]).reshape(len(step), -1)  # (steps, modules)
                for j in range(cos.shape[1]):
                    cos_ax.plot(step, cos[:, j], linestyle=LINESTYLES[j % 3], color=style["color"])
        acc_ax.set_title(f"{n_mod} synthetic-gradient module{'s' if n_mod > 1 else ''}")
        acc_ax.set_ylabel("test accuracy [%]")
        acc_ax.set_ylim(0, 100)
        cos_ax.set_ylabel("cosine(synthetic, true dL/dh)")
        if n_mod > 1:
            cos_ax.set_title("modules from the bottom: solid, dashed, dotted")
        cos_ax.set_xlabel("training step")
        cos_ax.axhline(0.0, color="0.6", linewidth=0.6)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(
        f"Decoupled training with synthetic gradients, {pay['dataset']} (mean ± s.e. over seeds)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    return _style.save(fig, out, "synthetic_gradients")
