"""Figure scripts: each reads result files only (never trains) and writes PNG and PDF.

Every figure module defines ``REQUIRES`` (result files relative to the results
folder) and ``draw(results, out) -> list[Path]``. :func:`render` draws the figures
whose results exist and reports the others as skipped.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["FIGURES", "render"]

#: Figure name -> module under ``paper_figs``.
FIGURES = {
    "styblinski_tang": "paper_figs.styblinski_tang",
    "regression": "paper_figs.regression",
    "synthetic_gradients": "paper_figs.synthetic_gradients",
}

DEFAULT_RESULTS = Path("results")
DEFAULT_OUT = Path("paper_figs") / "figures"


def render(
    only: list[str] | None = None,
    results: str | Path = DEFAULT_RESULTS,
    out: str | Path = DEFAULT_OUT,
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

    Returns
    -------
    dict
        Per figure, the written paths, or a string saying why it was skipped.
    """
    from paper_figs import _style

    names = list(FIGURES) if not only else list(only)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {sorted(FIGURES)}")
    results, out = Path(results), Path(out)
    _style.setup()
    report: dict[str, list[Path] | str] = {}
    for name in names:
        module = importlib.import_module(FIGURES[name])
        missing = [r for r in module.REQUIRES if not (results / r).exists()]
        if missing:
            report[name] = f"skipped: missing {', '.join(str(results / m) for m in missing)}"
            continue
        report[name] = module.draw(results, out)
    return report
