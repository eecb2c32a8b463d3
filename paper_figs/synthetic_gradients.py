"""Figure 6: synthetic gradients: accuracy, and the collapse of critics, over training.

Top row: validation accuracy (mean over seeds) of every method at its chosen trial,
one column per task. Bottom row, for the first task: the share of the synthetic
gradient common to all samples of a batch (1: every sample gets the same gradient,
the collapse signature), the fraction of dead units (mean over cuts) and the R² of
the synthetic against the true gradient (mean over modules). A collapsed critic shows
as a common share near 1 with the dead-unit fraction rising and accuracy at chance.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sobolev_lab.experiments.synthetic_gradients.study import variant
from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("synthetic_gradients/full/result.json",),
    "quick": ("synthetic_gradients/quick/result.json",),
}
DIAGNOSTICS = (
    ("common", "common share of the synthetic gradient"),
    ("dead", "dead-unit fraction (mean over cuts)"),
    ("r2", "R² synthetic vs true gradient"),
)


def _mean_over_modules(rows) -> np.ndarray:
    arr = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)
    if arr.size == 0 or not np.isfinite(arr).any():
        return np.full(len(rows), np.nan)
    with np.errstate(all="ignore"):
        return np.nanmean(arr, 1)


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``synthetic_gradients.png``/``.pdf`` from ``synthetic_gradients/<name>/result.json``."""
    pay = _io.payload(paths[0])
    curves, rows = pay["curves"], pay["summary"]
    tasks = [t for t in pay["tasks"] if any(r["task"] == t for r in rows)]
    ncol = max(len(tasks), len(DIAGNOSTICS))
    fig, axes = plt.subplots(2, ncol, figsize=(4.4 * ncol, 7.0), squeeze=False)
    variants = list(dict.fromkeys(variant(r["method"], r["critic_activation"]) for r in rows))
    # One colour per variant: the shared palette keys on method names, which repeat here.
    colors = {v: "black" if v == "backprop" else plt.cm.tab10(k) for k, v in enumerate(variants)}

    def chosen(task: str, name: str) -> dict | None:
        for r in rows:
            if r["task"] == task and variant(r["method"], r["critic_activation"]) == name:
                return curves.get(f"{task}|{name}|{r['chosen_trial']}")
        return None

    for col, task in enumerate(tasks):
        ax = axes[0, col]
        for name in variants:
            c = chosen(task, name)
            if c:
                ax.plot(c["step"], 100 * np.asarray(c["val_acc"]), color=colors[name], label=name)
        ax.set_title(task)
        ax.set_ylabel("validation accuracy [%]")
        ax.set_ylim(0, 100)
        ax.set_xlabel("training step")
    for col in range(len(tasks), ncol):
        axes[0, col].axis("off")
    task = tasks[0]
    for col, (key, title) in enumerate(DIAGNOSTICS):
        ax = axes[1, col]
        for name in variants:
            c = chosen(task, name)
            if c and key in c:
                ax.plot(c["step"], _mean_over_modules(c[key]), color=colors[name])
        ax.set_title(f"{task}: {title}", fontsize=9)
        ax.set_xlabel("training step")
        if key != "r2":
            ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.0, color="0.6", linewidth=0.6)
    for col in range(len(DIAGNOSTICS), ncol):
        axes[1, col].axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Decoupled training, chosen trials (mean over seeds)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    return _style.save(fig, out, "synthetic_gradients")
