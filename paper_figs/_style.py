"""Shared look of every figure: palette, method names, byte-stable saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Okabe-Ito: distinguishable with the common forms of colour blindness.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

#: The names the README uses for each method, and one fixed colour per method.
METHOD_LABELS = {
    "regular": "regular",
    "sobolev": "Sobolev",
    "sobolev_estimated": "Sobolev (estimated derivatives)",
    "sobolev_balanced": "Sobolev (balanced weights)",
    "order0": "regular (order 0)",
    "order1": "Sobolev (order 1)",
    "order2": "Sobolev (order 2)",
    "backprop": "backprop",
    "noprop": "no-prop",
    "sg": "synthetic gradients (DNI)",
    "critic": "critic",
    "construction": "explicit construction",
}
METHOD_COLORS = {
    "regular": OKABE_ITO[0],
    "order0": OKABE_ITO[0],
    "sobolev": OKABE_ITO[1],
    "order1": OKABE_ITO[1],
    "sobolev_estimated": OKABE_ITO[2],
    "sobolev_balanced": OKABE_ITO[3],
    "order2": OKABE_ITO[3],
    "backprop": OKABE_ITO[7],
    "noprop": OKABE_ITO[5],
    "sg": OKABE_ITO[4],
    "critic": OKABE_ITO[2],
    "construction": "#777777",
}


def label(method: str) -> str:
    """Human name of a method key."""
    return METHOD_LABELS.get(method, method)


def color(method: str, index: int = 0) -> str:
    """Fixed colour of a method key (palette order for unknown keys)."""
    return METHOD_COLORS.get(method, OKABE_ITO[index % len(OKABE_ITO)])


def setup() -> None:
    """Readable at README width, deterministic output."""
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "sobolev-training",
            "path.simplify": False,
        }
    )


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.pdf without timestamps, so reruns are byte-identical."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(
        paths[1],
        metadata={"Creator": None, "Producer": None, "CreationDate": None},
        bbox_inches="tight",
    )
    plt.close(fig)
    return paths
