"""Tables for every study: CSV and Markdown text, number formats, and verdict tables.

Studies build their tables as text here and hand them to the runner, which writes
them atomically (:func:`sobolev_lab.results.atomic_write_text`) beside ``result.json``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["csv_text", "fmt", "markdown_table", "pm", "verdict_table"]


def fmt(value: Any, digits: int = 3) -> str:
    """A number in ``digits`` significant figures (``-`` for None or NaN)."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}g}"
    return str(value)


def pm(mean: float | None, sem: float | None, spec: str = ".2f") -> str:
    """``mean ± sem`` with one format spec for both (``-`` when the mean is missing)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if sem is None:
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(sem, spec)}"


def csv_text(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> str:
    """CSV text of ``rows``; the columns are ``fields`` or the union of keys in order.

    Floats are written with ``repr`` (round-trip exact); None as an empty field.
    """
    if fields is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        fields = list(seen)
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in fields})
    return buf.getvalue()


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; cells are converted with ``str``."""
    lines = [
        "| " + " | ".join(str(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell_label(cell: Any) -> str:
    if isinstance(cell, Mapping):
        return ", ".join(f"{k}={v}" for k, v in cell.items())
    return str(cell)


def verdict_table(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of a result's ``verdicts`` list (ratio baseline / method, CI, verdict)."""
    if not verdicts:
        return "No paired comparisons in this result.\n"
    rows = []
    for v in verdicts:
        lo, hi = v["ci95"]
        ci = "-" if lo is None else f"[{fmt(lo)}, {fmt(hi)}]"
        rows.append(
            [
                _cell_label(v["cell"]),
                v["metric"],
                f"{v['method']} vs {v['baseline']}",
                v["n_seeds"],
                fmt(v["ratio"]),
                ci,
                fmt(v.get("p_holm")),
                f"**{v['verdict']}**" if v["verdict"] != "tie" else "tie",
            ]
        )
    header = ["cell", "metric", "comparison", "seeds", "ratio", "95% CI", "p (Holm)", "verdict"]
    return markdown_table(header, rows)
