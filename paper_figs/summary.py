"""Headline comparisons of every study, read from the ``verdicts`` of its result file.

Every study's ``result.json`` carries the same ``verdicts`` list (paired over seeds,
95% intervals, Holm-corrected within the study: :mod:`sobolev_lab.stats`), so one
summary serves them all: per study and comparison, how many cells are wins, losses and
ties, and the range of the ratios baseline / method (above 1: the method wins).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sobolev_lab.paper_figs import _io
from sobolev_lab.tables import fmt


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [line.format(*header), line.format(*("-" * w for w in widths))]
        + [line.format(*map(str, r)) for r in rows]
    )


def study_summary(name: str, payload: dict) -> str:
    """Win/loss/tie counts per (method vs baseline, metric) of one study's verdicts."""
    verdicts = payload["verdicts"]
    conv = payload["convergence"]
    converged = "not assessed" if conv["converged"] is None else f"{conv['converged']}"
    head = f"{name}: {len(verdicts)} paired comparisons; trainings {conv['trainings']}, "
    head += f"converged {converged}"
    if not verdicts:
        return head + " (no paired comparisons in this study)"
    groups: dict[tuple[str, str], list[dict]] = {}
    for v in verdicts:
        groups.setdefault((f"{v['method']} vs {v['baseline']}", v["metric"]), []).append(v)
    rows = []
    for (comparison, metric), vs in groups.items():
        counts = Counter(v["verdict"] for v in vs)
        ratios = [v["ratio"] for v in vs if v["ratio"] is not None]
        span = f"{fmt(min(ratios))}-{fmt(max(ratios))}" if ratios else "-"
        seeds = sorted({v["n_seeds"] for v in vs})
        rows.append(
            [
                comparison,
                metric,
                counts["win"],
                counts["loss"],
                counts["tie"],
                span,
                ",".join(map(str, seeds)),
            ]
        )
    header = ["comparison", "metric", "win", "loss", "tie", "ratio range", "seeds"]
    return head + "\n" + _table(header, rows)


def headline(results: str | Path, preset: str = "full") -> str:
    """The summary of every registered study's ``results/<study>/<preset>/result.json``."""
    from sobolev_lab.registry import STUDIES

    results = Path(results)
    parts = []
    for name in STUDIES:
        path = results / name / preset / "result.json"
        if not path.exists():
            parts.append(f"{name}: no results at {path}")
            continue
        parts.append(study_summary(name, _io.payload(path)))
    return "\n\n".join(parts)
