"""Differential ML: predicted price and delta against the basket value, classical vs twin net.

One column per training size (Huge & Savine's figure uses 1024 and 8192 paths, d = 1):
price (top) and basket delta (bottom) of the classical net (values only) and the twin
net (values + pathwise deltas) against the analytic Bachelier reference, drawn from the
curves stored in ``results/differential_ml/<preset>/result.json``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("differential_ml/full/result.json",),
    "quick": ("differential_ml/quick/result.json",),
}

_METHODS = {"classical": "classical net (values)", "differential": "twin net (values + deltas)"}


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``differential_ml.png``/``.pdf`` from the study's ``result.json``."""
    curves = sorted(_io.payload(paths[0])["curves"], key=lambda c: c["n"])
    if not curves:
        raise ValueError(f"{paths[0]} stores no figure curves (figure_ns was empty)")
    fig, axes = plt.subplots(2, len(curves), figsize=(4.4 * len(curves), 6.0), squeeze=False)
    for col, c in enumerate(curves):
        basket = _io.array(c["basket"])
        for row, key in enumerate(("price", "delta")):
            ax = axes[row, col]
            ax.plot(basket, _io.array(c[key]), color="#000000", lw=1.2, label="analytic")
            for k, (method, name) in enumerate(_METHODS.items()):
                ax.plot(
                    basket,
                    _io.array(c[method][key]),
                    ls="none",
                    marker=".",
                    ms=3,
                    color=_style.OKABE_ITO[k],
                    label=name,
                )
            ax.set_xlabel("basket value")
            ax.set_ylabel("price" if key == "price" else "basket delta (sum of deltas)")
            ax.set_title(f"d = {c['d']}, {c['n']} paths")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Pricing from noisy pathwise labels (1-year call, strike 1.10)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    return _style.save(fig, out, "differential_ml")
