"""Figure scripts: each reads result files only (never trains) and writes PNG and PDF.

Every figure module defines ``REQUIRES``, per preset (``"full"`` for the shipped
full-scale results, ``"quick"`` for ``sobolev reproduce --preset quick``), the result
files it reads relative to the results folder, and ``draw(paths, out) -> list[Path]``.
:func:`render` draws the figures whose results exist and reports the others as skipped.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["FIGURES", "render"]

#: Figure name -> module under ``paper_figs``.
FIGURES = {
    "styblinski_tang": "sobolev_lab.paper_figs.styblinski_tang",
    "regression": "sobolev_lab.paper_figs.regression",
    "universal": "sobolev_lab.paper_figs.universal",
    "sample_complexity": "sobolev_lab.paper_figs.sample_complexity",
    "distillation": "sobolev_lab.paper_figs.distillation",
    "synthetic_gradients": "sobolev_lab.paper_figs.synthetic_gradients",
    "theory": "sobolev_lab.paper_figs.theory",
    "differential_ml": "sobolev_lab.paper_figs.differential_ml",
}

DEFAULT_RESULTS = Path("results")
DEFAULT_OUT = Path("paper_figs") / "figures"


def render(
    only: list[str] | None = None,
    results: str | Path = DEFAULT_RESULTS,
    out: str | Path = DEFAULT_OUT,
    preset: str = "full",
) -> dict[str, list[Path] | str]:
    """Draw figures from result files.

    Parameters
    ----------
    only : list of str, optional
        Names from :data:`FIGURES`; all by default.
    results : path-like
        Folder holding the result files.
    out : path-like
        Folder for the PNG and PDF files.
    preset : {"full", "quick"}
        Which study outputs to read.

    Returns
    -------
    dict
        Per figure, the written paths, or a string saying why it was skipped.
    """
    from sobolev_lab.paper_figs import _style

    names = list(FIGURES) if not only else list(only)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {sorted(FIGURES)}")
    if preset not in ("full", "quick"):
        raise ValueError(f'preset must be "full" or "quick", got {preset!r}')
    results, out = Path(results), Path(out)
    _style.setup()
    report: dict[str, list[Path] | str] = {}
    for name in names:
        module = importlib.import_module(FIGURES[name])
        paths = [results / r for r in module.REQUIRES[preset]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            report[name] = f"skipped: missing {', '.join(missing)}"
            continue
        report[name] = module.draw(paths, out)
    return report
