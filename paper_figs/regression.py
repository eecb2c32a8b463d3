"""Figure 2: the regression table as a chart, every function and both training sizes.

Test MSE of values (top) and of gradients (bottom), log scale, mean and standard
error over seeds, per method; one column per training-set size.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sobolev_lab.paper_figs import _style
from sobolev_lab.results import read_result

REQUIRES = {
    "full": ("regression/full/result.json",),
    "quick": ("regression/quick/result.json",),
}


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``regression.png``/``.pdf`` from ``results/regression/full/result.json``.

    A protocol result (rows without ``steps``, peers among the methods) and a
    fixed-budget one (rows at the main budget only) both draw.
    """
    doc = read_result(paths[0])
    pay, steps = doc["payload"], doc["config"]["steps"]
    protocol = bool(doc["config"].get("protocol"))
    rows = [r for r in pay["rows"] if r.get("steps", steps) == steps]
    functions = list(dict.fromkeys(r["function"] for r in rows))
    sizes = sorted({r["n_train"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    index = {(r["function"], r["n_train"], r["method"]): r for r in rows}
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.6 * len(sizes), 6.2), squeeze=False)
    width = 0.8 / len(methods)
    pos = np.arange(len(functions))
    for col, n in enumerate(sizes):
        for row, (metric, name) in enumerate(
            [("test_mse_values", "values"), ("test_mse_gradients", "gradients")]
        ):
            ax = axes[row, col]
            for k, method in enumerate(methods):
                cells = [index.get((f, n, method)) for f in functions]
                mean = [c[f"{metric}_mean"] if c else np.nan for c in cells]
                sem = [c[f"{metric}_sem"] if c else 0.0 for c in cells]
                ax.bar(
                    pos + (k - (len(methods) - 1) / 2) * width,
                    mean,
                    width,
                    yerr=sem,
                    color=_style.color(method, k),
                    label=_style.label(method),
                    error_kw={"elinewidth": 0.8, "capsize": 1.5},
                )
            ax.set_yscale("log")
            ax.set_xticks(pos, [f.replace("_", " ") for f in functions], rotation=35, ha="right")
            ax.set_title(f"{n} training points")
            ax.set_ylabel(f"test MSE of {name}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    how = "every method tuned by cross-validation" if protocol else "fixed budget"
    fig.suptitle(
        f"Regression on classical test functions, {how} (mean ± s.e. over seeds; lower is better)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(methods), 6), frameon=False)
    return _style.save(fig, out, "regression")
