"""Summary, verdicts and tables of the distillation study (drawn from stored cells only).

The summary holds

* ``rows``: one per (game, fraction, student, method): mean and standard error over
  seeds of ``test_kl``, ``test_action_error`` and ``test_jacobian_rel_error``; the mean
  return with its standard error over all episodes of all seeds; the chosen
  hyperparameters (value -> seeds that chose it); timing of the chosen trainings;
* ``verdicts``: each Sobolev method against each baseline per (game, fraction,
  student) on held-out KL and action error, paired over seeds, Holm-corrected within
  each (method, baseline, metric) table of cells (:func:`sobolev_lab.stats.paired_verdicts`);
  then Sobolev vs regular at equal wall time (below);
* ``returns``: the return difference of each Sobolev method and each baseline, with
  the smallest difference the episodes could detect (80% power, two-sided 5%);
* ``timing``-like ``cost`` rows per (game, student, method): seconds per step, teacher
  queries before training, wall time per training, ratio to regular;
* ``curves``: the chosen training's validation and test KL per evaluation;
* ``convergence``: every training (all trials) judged by the protocol's rule on its
  validation curve within the step budget (:func:`sobolev_lab.protocol.converged`).

Equal wall time: a Sobolev training's wall time ``T`` (teacher queries + steps, to where
it stopped) is measured in the cell. The regular student of the same seed gets the same
``T`` on its own longer run (``budget_factor`` x steps): per regular trial, its best
validation checkpoint reached within ``T`` seconds, the trial with the lowest of these,
and that checkpoint's test KL. When ``T`` lies beyond the end of a regular run that ran
its whole budget, the reading is capped at the budget (counted in ``capped``).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from sobolev_lab.experiments.distillation.config import DistillationConfig
from sobolev_lab.protocol import CRITERION, convergence_record
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, fmt, markdown_table, verdict_table

__all__ = ["METRICS", "VERDICT_METRICS", "render", "summarise", "wall_time_reading"]

METRICS = ("test_kl", "test_action_error", "test_jacobian_rel_error")

#: Metric -> the claim its verdicts test (lower is better for both).
VERDICT_METRICS = {
    "test_kl": "{m} gives a lower held-out KL(teacher || student) than tuned {b}",
    "test_action_error": "{m} predicts the teacher's action more often than tuned {b}",
}
SOBOLEV = ("sobolev_input", "sobolev_output")
BASELINES = ("regular", "noise")


def _students(cells: list[dict], payloads: list[dict | None]) -> list[tuple[dict, dict]]:
    return [
        (c, p)
        for c, p in zip(cells, payloads, strict=True)
        if p is not None and c["kind"] == "student"
    ]


def _key(c: dict) -> tuple:
    return (c["game"], c["fraction"], c["student"], c["method"])


def _chosen(p: dict) -> dict:
    return p["trials"][p["selection"]["index"]]


def _wall(trial: dict) -> float:
    """Wall time of one training to where it stopped (teacher queries included)."""
    return trial["prepare_seconds"] + trial["train_seconds"]


def wall_time_reading(trials: list[dict], seconds: float) -> tuple[float, bool]:
    """Test KL of a method's trials given ``seconds`` of wall time each (see above).

    Returns
    -------
    test_kl : float
        At the best validation checkpoint within ``seconds`` over all trials.
    capped : bool
        The chosen trial ran its whole budget before ``seconds`` ran out.
    """
    best = (math.inf, None, False)
    for t in trials:
        c = t["curve"]
        ok = [i for i, s in enumerate(c["seconds"]) if s <= seconds]
        if not ok:
            continue
        i = min(ok, key=lambda j: c["val_kl"][j])
        if c["val_kl"][i] < best[0]:
            capped = ok[-1] == len(c["step"]) - 1 and not t["early_stopped"]
            best = (c["val_kl"][i], c["test_kl"][i], capped)
    if best[1] is None:
        return math.inf, False
    return best[1], best[2]


def _rows(config: DistillationConfig, cells, payloads) -> list[dict[str, Any]]:
    done = [(c, p) for c, p in zip(cells, payloads, strict=True) if p is not None]
    by: dict[tuple, list[dict]] = {}
    for c, p in done:
        if c["kind"] == "student":
            by.setdefault(_key(c), []).append(p)
    rows = []
    for game in config.games:
        ref = {}
        for kind in ("teacher", "random"):
            eps = [
                r for c, p in done if c["game"] == game and c["kind"] == kind for r in p["returns"]
            ]
            ref[kind] = mean_sem(eps, single=None) if eps else (None, None)
        for fraction in config.fractions:
            for student in config.students:
                for method in config.methods:
                    sel = by.get((game, fraction, student, method))
                    if not sel:
                        continue
                    chosen = [_chosen(p) for p in sel]
                    row = {
                        "game": game,
                        "fraction": fraction,
                        "n_train": sel[0]["n_train"],
                        "student": student,
                        "method": method,
                        "seeds": len(sel),
                    }
                    for m in METRICS:
                        vals = [p[m] for p in sel if p[m] is not None]
                        row[m], row[m + "_sem"] = (
                            mean_sem(vals, single=None) if vals else (None, None)
                        )
                    eps = [r for p in sel for r in p["returns"]]
                    row["mean_return"], row["mean_return_sem"] = mean_sem(eps, single=None)
                    row["episodes"] = len(eps)
                    row["teacher_return"], row["teacher_return_sem"] = ref["teacher"]
                    row["random_return"] = ref["random"][0]
                    hp = Counter(
                        f"{k}={v:g}" for p in sel for k, v in p["selection"]["chosen"].items()
                    )
                    row["chosen"] = "; ".join(f"{k} x{n}" for k, n in sorted(hp.items()))
                    row["best_step"] = float(np.mean([t["best_step"] for t in chosen]))
                    row["seconds_per_step"] = float(
                        np.mean([t["seconds_per_step"] for t in chosen])
                    )
                    row["prepare_seconds"] = float(np.mean([t["prepare_seconds"] for t in chosen]))
                    row["wall_seconds"] = float(np.mean([_wall(t) for t in chosen]))
                    rows.append(row)
    return rows


def _per_seed(students, metric_fn) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = {}
    for c, p in students:
        out.setdefault(_key(c), {})[c["seed"]] = metric_fn(c, p)
    return out


def _cells(config: DistillationConfig):
    for game in config.games:
        for fraction in config.fractions:
            for student in config.students:
                yield {"game": game, "fraction": fraction, "student": student}


def _family(config, values, method, baseline, metric, claim) -> list[dict]:
    comparisons = []
    for cell in _cells(config):
        k = (cell["game"], cell["fraction"], cell["student"])
        b, m = values.get((*k, baseline), {}), values.get((*k, method), {})
        if not b.keys() & m.keys():
            continue
        comparisons.append(
            {
                "claim": claim,
                "cell": cell,
                "metric": metric,
                "baseline": baseline,
                "method": method,
                "baseline_errors": b,
                "method_errors": m,
            }
        )
    return paired_verdicts(comparisons) if comparisons else []


def _verdicts(config: DistillationConfig, students) -> list[dict[str, Any]]:
    out = []
    methods = set(config.methods)
    for metric, claim in VERDICT_METRICS.items():
        values = _per_seed(students, lambda c, p, m=metric: p[m])
        for method in SOBOLEV:
            for baseline in BASELINES:
                if {method, baseline} <= methods:
                    text = claim.format(m=method, b=baseline)
                    out += _family(config, values, method, baseline, metric, text)
    return out


def _wall_verdicts(config: DistillationConfig, students) -> tuple[list[dict], dict[str, int]]:
    """Sobolev vs regular at the Sobolev training's measured wall time (module docstring)."""
    if "regular" not in config.methods:
        return [], {"readings": 0, "capped": 0}
    regular = {
        (c["game"], c["fraction"], c["student"], c["seed"]): p
        for c, p in students
        if c["method"] == "regular"
    }
    values: dict[tuple, dict[int, float]] = {}
    readings = capped = 0
    out = []
    for c, p in students:
        if c["method"] not in SOBOLEV:
            continue
        reg = regular.get((c["game"], c["fraction"], c["student"], c["seed"]))
        if reg is None:
            continue
        kl, cap = wall_time_reading(reg["trials"], _wall(_chosen(p)))
        readings, capped = readings + 1, capped + cap
        values.setdefault(_key(c), {})[c["seed"]] = p["test_kl"]
        values.setdefault((c["game"], c["fraction"], c["student"], "regular@" + c["method"]), {})[
            c["seed"]
        ] = kl
    for method in SOBOLEV:
        if method in config.methods:
            claim = f"{method} gives a lower held-out KL than tuned regular at equal wall time"
            out += _family(config, values, method, "regular@" + method, "test_kl", claim)
    return out, {"readings": readings, "capped": capped}


def _returns(rows: list[dict]) -> list[dict[str, Any]]:
    by = {(r["game"], r["fraction"], r["student"], r["method"]): r for r in rows}
    out = []
    for (g, f, s, m), r in by.items():
        if m not in SOBOLEV:
            continue
        for b in BASELINES:
            rb = by.get((g, f, s, b))
            if rb is None or r["mean_return_sem"] is None or rb["mean_return_sem"] is None:
                continue
            se = math.hypot(r["mean_return_sem"], rb["mean_return_sem"])
            diff = r["mean_return"] - rb["mean_return"]
            out.append(
                {
                    "game": g,
                    "fraction": f,
                    "student": s,
                    "method": m,
                    "baseline": b,
                    "difference": diff,
                    "se": se,
                    "detectable": 2.80 * se,  # (1.96 + 0.84) se: 80% power, two-sided 5%
                    "significant": abs(diff) > 1.96 * se,
                }
            )
    return out


def _curves(students) -> list[dict[str, Any]]:
    out = []
    for c, p in students:
        t = _chosen(p)
        cv = t["curve"]
        for i, step in enumerate(cv["step"]):
            out.append(
                {
                    "game": c["game"],
                    "fraction": c["fraction"],
                    "student": c["student"],
                    "method": c["method"],
                    "seed": c["seed"],
                    "step": step,
                    "val_kl": cv["val_kl"][i],
                    "test_kl": cv["test_kl"][i],
                    "seconds": cv["seconds"][i],
                }
            )
    return out


def summarise(
    config: DistillationConfig, cells: list[dict], payloads: list[dict | None]
) -> dict[str, Any]:
    """``rows``, ``verdicts``, ``returns``, ``equal_wall_time``, ``curves``, ``convergence``."""
    students = _students(cells, payloads)
    rows = _rows(config, cells, payloads)
    wall, wall_count = _wall_verdicts(config, students)
    flags = [bool(t["converged"]) for _, p in students for t in p["trials"]]
    return {
        "rows": rows,
        "verdicts": _verdicts(config, students) + wall,
        "equal_wall_time": wall_count,
        "returns": _returns(rows),
        "curves": _curves(students),
        "convergence": convergence_record(
            flags, CRITERION + " (every trial, validation KL, within the step budget)"
        ),
    }


def _mean_sem(mean: float | None, sem: float | None) -> str:
    # Three significant figures for the mean, two for its standard error.
    return fmt(mean) if sem is None or mean is None else f"{fmt(mean)} ± {fmt(sem, 2)}"


def results_table(rows: list[dict], metric: str) -> str:
    """Markdown table of one metric: (game, fraction, student) x methods; bold = lowest mean.

    Bold marks the best mean, not a significance test (the verdicts are that).
    """
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["game"], r["fraction"], r["student"], r["method"]): r for r in rows}
    keys = list(dict.fromkeys((r["game"], r["fraction"], r["student"]) for r in rows))
    lines = []
    for g, f, s in keys:
        here = {m: by.get((g, f, s, m)) for m in methods}
        vals = {m: r[metric] for m, r in here.items() if r is not None and r[metric] is not None}
        sign = -1 if metric == "mean_return" else 1
        top = min(vals, key=lambda m: sign * vals[m]) if vals else None
        n = next(r for r in here.values() if r is not None)["n_train"]
        line = [g, f"{f:g} ({n})", s]
        for m in methods:
            r = here[m]
            text = "-" if r is None else _mean_sem(r[metric], r[metric + "_sem"])
            line.append(f"**{text}**" if m == top else text)
        lines.append(line)
    return markdown_table(["game", "fraction (states)", "student", *methods], lines)


def render(config: DistillationConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (rows), ``result.md`` (tables, verdicts), ``curves.csv``, ``returns.csv``."""
    rows, conv = summary["rows"], summary["convergence"]
    md = "## Held-out KL(teacher || student), mean ± s.e. over seeds\n\n"
    md += results_table(rows, "test_kl")
    md += "\n## Action-prediction error on held-out states\n\n"
    md += results_table(rows, "test_action_error")
    md += "\n## Mean return (± s.e. over all episodes of all seeds)\n\n"
    md += results_table(rows, "mean_return")
    md += (
        "\n## Chosen hyperparameters (value x seeds) and cost of the chosen training\n\n"
        "Seconds are wall seconds measured inside the run (means over seeds); `x regular` "
        "is the step cost relative to the regular student of the same cell.\n\n"
    )
    regular = {
        (r["game"], r["fraction"], r["student"]): r["seconds_per_step"]
        for r in rows
        if r["method"] == "regular"
    }
    table = []
    for r in rows:
        ref = regular.get((r["game"], r["fraction"], r["student"]))
        table.append(
            [
                r["game"],
                f"{r['fraction']:g}",
                r["student"],
                r["method"],
                r["chosen"],
                fmt(r["best_step"]),
                fmt(1000 * r["seconds_per_step"]),
                "-" if ref is None else fmt(r["seconds_per_step"] / ref),
                fmt(r["prepare_seconds"], 2),
                fmt(r["wall_seconds"]),
            ]
        )
    header = ["game", "fraction", "student", "method", "chosen", "best step", "ms/step"]
    header += ["x regular", "teacher queries s", "wall s"]
    md += markdown_table(header, table)
    md += (
        "\n## Verdicts, paired over seeds\n\n"
        "Ratio = geometric mean over seeds of baseline / method error (above 1: the Sobolev "
        "method has the lower error); 95% t interval; Holm-corrected within each "
        "(method, baseline, metric) family of cells. `regular@sobolev_*`: the regular "
        "student read at the Sobolev training's measured wall time.\n\n"
    )
    md += verdict_table(summary["verdicts"])
    ew = summary["equal_wall_time"]
    md += (
        f"\nEqual-wall-time readings: {ew['readings']}, of which {ew['capped']} capped at the "
        "regular run's budget.\n"
    )
    md += (
        f"\nTrainings (all trials): {conv['trainings']}; converged: {conv['converged']} "
        f"({conv['criterion']}).\n"
    )
    return {
        "result.csv": csv_text(rows),
        "result.md": md,
        "returns.csv": csv_text(summary["returns"]),
        "curves.csv": csv_text(summary["curves"]),
    }
