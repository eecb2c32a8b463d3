"""Summary, verdicts and tables of the distillation study (drawn from stored cells only).

The summary holds

* ``rows``: one per (game, fraction, method) with the mean and standard error over
  seeds of ``test_kl``, ``test_action_error``, ``test_jacobian_rel_error`` and
  ``mean_return``, the teacher's and the random policy's return and the mean
  ``seconds_per_step``;
* ``curves``: the held-out KL and training loss every ``eval_every`` steps, one row
  per (game, fraction, method, seed, step);
* ``verdicts``: Sobolev vs regular per (game, fraction) on held-out KL and on action
  error, paired over seeds, Holm-corrected across the table
  (:func:`sobolev_lab.stats.paired_verdicts`);
* ``convergence``: students trained; no convergence rule is applied yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sobolev_lab.experiments.distillation.config import DistillationConfig
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, fmt, markdown_table, verdict_table

__all__ = ["METRICS", "VERDICT_METRICS", "render", "summarise"]

METRICS = ("test_kl", "test_action_error", "test_jacobian_rel_error", "mean_return")

#: Metric -> the claim its verdicts test (lower is better for both).
VERDICT_METRICS = {
    "test_kl": "Sobolev distillation gives a lower held-out KL(teacher || student)",
    "test_action_error": "Sobolev distillation predicts the teacher's action more often",
}

CONVERGENCE_CRITERION = "no early stopping yet (issue #17)"


def _students(cells: list[dict], payloads: list[dict | None]) -> list[tuple[dict, dict]]:
    return [
        (c, p)
        for c, p in zip(cells, payloads, strict=True)
        if p is not None and c["kind"] == "student"
    ]


def _rows(
    config: DistillationConfig, cells: list[dict], payloads: list[dict | None]
) -> list[dict[str, Any]]:
    done = [(c, p) for c, p in zip(cells, payloads, strict=True) if p is not None]
    rows = []
    for game in config.games:
        ref = {}
        for kind in ("teacher", "random"):
            vals = [p["mean_return"] for c, p in done if c["game"] == game and c["kind"] == kind]
            ref[kind] = mean_sem(vals, single=None) if vals else (None, None)
        for fraction in config.fractions:
            for method in config.methods:
                sel = [
                    p
                    for c, p in done
                    if c["game"] == game
                    and c["kind"] == "student"
                    and c["fraction"] == fraction
                    and c["method"] == method
                ]
                if not sel:
                    continue
                row = {
                    "game": game,
                    "fraction": fraction,
                    "n_train": sel[0]["n_train"],
                    "method": method,
                    "seeds": len(sel),
                    "teacher_return": ref["teacher"][0],
                    "teacher_return_sem": ref["teacher"][1],
                    "random_return": ref["random"][0],
                }
                for m in METRICS:
                    row[m], row[m + "_sem"] = mean_sem([p[m] for p in sel], single=None)
                row["seconds_per_step"] = float(np.mean([p["seconds_per_step"] for p in sel]))
                rows.append(row)
    return rows


def _verdicts(
    config: DistillationConfig, students: list[tuple[dict, dict]]
) -> list[dict[str, Any]]:
    if not {"regular", "sobolev"} <= set(config.methods):
        return []
    per_seed: dict[tuple, dict[int, float]] = {}
    for c, p in students:
        for metric in VERDICT_METRICS:
            key = (c["game"], c["fraction"], metric, c["method"])
            per_seed.setdefault(key, {})[c["seed"]] = p[metric]
    comparisons = []
    for game in config.games:
        for fraction in config.fractions:
            for metric, claim in VERDICT_METRICS.items():
                reg = per_seed.get((game, fraction, metric, "regular"), {})
                sob = per_seed.get((game, fraction, metric, "sobolev"), {})
                seeds = sorted(reg.keys() & sob.keys())
                if not seeds:
                    continue
                comparisons.append(
                    {
                        "claim": claim,
                        "cell": {"game": game, "fraction": fraction},
                        "metric": metric,
                        "baseline": "regular",
                        "method": "sobolev",
                        "baseline_errors": [reg[s] for s in seeds],
                        "method_errors": [sob[s] for s in seeds],
                    }
                )
    return paired_verdicts(comparisons)


def _curves(students: list[tuple[dict, dict]]) -> list[dict[str, Any]]:
    return [
        {
            "game": c["game"],
            "fraction": c["fraction"],
            "method": c["method"],
            "seed": c["seed"],
            "step": s,
            "test_kl": kl,
            "train_loss": tl,
        }
        for c, p in students
        for s, kl, tl in zip(
            p["curve"]["step"], p["curve"]["test_kl"], p["curve"]["train_loss"], strict=True
        )
    ]


def summarise(
    config: DistillationConfig, cells: list[dict], payloads: list[dict | None]
) -> dict[str, Any]:
    """``rows``, ``curves``, ``verdicts`` and ``convergence`` (see the module docstring)."""
    students = _students(cells, payloads)
    return {
        "rows": _rows(config, cells, payloads),
        "curves": _curves(students),
        "verdicts": _verdicts(config, students),
        "convergence": {
            "trainings": len(students),
            "converged": None,
            "criterion": CONVERGENCE_CRITERION,
        },
    }


def _mean_sem(mean: float | None, sem: float | None) -> str:
    # Three significant figures for the mean, two for its standard error.
    return fmt(mean) if sem is None or mean is None else f"{fmt(mean)} ± {fmt(sem, 2)}"


def results_table(rows: list[dict]) -> str:
    """Paper-style Markdown table: games x train fraction x {regular, Sobolev}.

    Bold marks the better mean of the two methods, not a significance test (the
    verdicts are that).
    """
    by = {(r["game"], r["fraction"], r["method"]): r for r in rows}
    keys = sorted({(r["game"], r["fraction"]) for r in rows})
    header = [
        "game",
        "train fraction (states)",
        "KL regular",
        "KL Sobolev",
        "action error regular",
        "action error Sobolev",
        "return regular",
        "return Sobolev",
        "teacher return",
    ]
    lines = []
    for game, frac in keys:
        reg, sob = by.get((game, frac, "regular")), by.get((game, frac, "sobolev"))
        any_row = reg or sob
        line = [game, f"{frac:g} ({any_row['n_train']})"]
        for m in ("test_kl", "test_action_error", "mean_return"):
            a = "-" if reg is None else _mean_sem(reg[m], reg[m + "_sem"])
            b = "-" if sob is None else _mean_sem(sob[m], sob[m + "_sem"])
            if reg is not None and sob is not None:
                better = (sob[m] < reg[m]) if m != "mean_return" else (sob[m] > reg[m])
                b = f"**{b}**" if better else b
            line += [a, b]
        line.append(_mean_sem(any_row["teacher_return"], any_row["teacher_return_sem"]))
        lines.append(line)
    return markdown_table(header, lines)


def render(config: DistillationConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (the rows), ``result.md`` (table and verdicts), ``curves.csv``."""
    conv = summary["convergence"]
    md = results_table(summary["rows"])
    md += (
        "\n## Verdicts: Sobolev vs regular, paired over seeds\n\n"
        "Ratio = geometric mean over seeds of regular / Sobolev (above 1: Sobolev has the "
        "lower error); 95% t interval; Holm-corrected across this table.\n\n"
    )
    md += verdict_table(summary["verdicts"])
    md += f"\nStudents trained: {conv['trainings']}; convergence: {conv['criterion']}.\n"
    return {
        "result.csv": csv_text(summary["rows"]),
        "result.md": md,
        "curves.csv": csv_text(summary["curves"]),
    }
