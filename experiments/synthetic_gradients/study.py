"""Selection, summary, verdicts and tables of the study, from the cells' payloads only.

* ``selection``: per (task, method, critic activation) the trial with the lowest mean
  *validation* error over its seeds (:func:`sobolev_lab.protocol.select_scores`; a trial
  with a diverged seed ranks last); the chosen hyperparameters and every trial's mean
  validation error are recorded;
* ``summary``: one row per (task, method, activation) at the chosen trial: test
  accuracy (at each run's best validation point; mean and standard error over the
  finished seeds), the diagnostics at the end of training (cosine, R², common share
  of the synthetic gradient, dead units, averaged over modules/cuts) and how many runs
  converged;
* ``curves``: mean curves per (task, variant, trial) for the figure;
* ``verdicts``: test error (100 - accuracy, %) of the chosen trials paired over seeds,
  per task and critic activation: the Sobolev critic against the gradient-only critic
  (RQ3b) and against the value critic (the paper's Critic), and every method against
  backprop, Holm-corrected across the table (:func:`sobolev_lab.stats.paired_verdicts`).
  A task where no-prop is within 2 points of backprop is flagged ``uninformative``
  (a decoupled method can only lose there);
* ``convergence``: every training judged by the protocol's rule
  (:func:`sobolev_lab.protocol.convergence.converged`) on its validation-error curve.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from sobolev_lab.experiments.synthetic_gradients.config import SGConfig
from sobolev_lab.experiments.synthetic_gradients.train import judge_convergence
from sobolev_lab.protocol.convergence import CRITERION, convergence_record
from sobolev_lab.protocol.selection import select_scores
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, fmt, markdown_table, pm, verdict_table

__all__ = ["aggregate", "preflight", "render", "select", "summarise", "variant"]

CSV_FIELDS = (
    "task",
    "method",
    "critic_activation",
    "chosen_trial",
    "lr",
    "module_lr",
    "w_value",
    "normalise",
    "n_seeds",
    "n_ok",
    "n_diverged",
    "n_converged",
    "val_acc_mean",
    "test_acc_mean",
    "test_acc_se",
    "cosine",
    "r2",
    "common",
    "dead",
    "seconds_per_step",
)
CLAIM_RQ3B = "RQ3b: a Sobolev-trained critic beats a gradient-only critic"
CLAIM_VALUE = "a Sobolev-trained critic beats the value-trained critic (the paper's Critic)"
METRIC = "test error [%]"
DIAGNOSTICS = ("cosine", "r2", "common", "dead")
UNINFORMATIVE_POINTS = 2.0


def variant(method: str, act: str | None) -> str:
    """``method`` or ``method[activation]`` for critics."""
    return method if act is None else f"{method}[{act}]"


def _ok(p: dict | None) -> bool:
    return p is not None and p["status"] == "ok"


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _groups(cells, payloads) -> dict[tuple, dict[int, dict[int, dict | None]]]:
    """(task, method, act) -> trial -> seed -> payload."""
    out: dict[tuple, dict[int, dict[int, dict | None]]] = {}
    for c, p in zip(cells, payloads, strict=True):
        key = (c["task"], c["method"], c["critic_activation"])
        out.setdefault(key, {}).setdefault(c["trial"], {})[c["seed"]] = (c, p)
    return out


def select(trials: dict[int, dict[int, tuple]]) -> tuple[int, dict[str, Any]]:
    """The trial with the lowest mean validation error over seeds, and its record.

    Seeds play the part of the protocol's splits (:func:`sobolev_lab.protocol.select_scores`):
    a trial with a failed or diverged seed ranks last. If every trial diverged, the first
    is reported (its rows then have no finished runs).
    """
    order = sorted(trials)
    seeds = sorted(set().union(*(trials[t].keys() for t in order)))
    scores = [
        [
            100.0 * (1.0 - trials[t][s][1]["val_acc"])
            if _ok(trials[t].get(s, (None, None))[1])
            else math.inf
            for s in seeds
        ]
        for t in order
    ]
    configs = [{"trial": t} for t in order]
    try:
        sel = select_scores(configs, scores, metric="validation error [%]")
    except FloatingPointError:
        return order[0], {
            "chosen": configs[0],
            "index": 0,
            "all_diverged": True,
            "scores": [None] * len(order),
        }
    return order[sel.index], sel.record()


def _converged(p: dict, steps: int) -> bool:
    return judge_convergence(p["curves"], steps)


def _final(p: dict, key: str) -> float | None:
    return _mean(p["curves"][key][-1]) if p["curves"][key] else None


def aggregate(cells: list[dict], payloads: list[dict | None]) -> dict[str, Any]:
    """Selection, summary rows and mean curves per (task, method, activation)."""
    rows, curves, selection = [], {}, []
    for (task, method, act), trials in _groups(cells, payloads).items():
        chosen, record = select(trials)
        members = trials[chosen]
        cell0 = next(iter(members.values()))[0]
        hp = {k: cell0[k] for k in ("lr", "module_lr", "w_value", "normalise")}
        ok = [p for _, p in members.values() if _ok(p)]
        acc = mean_sem([p["test_acc"] for p in ok]) if ok else (None, None)
        name = variant(method, act)
        selection.append(
            {
                "task": task,
                "variant": name,
                "chosen_trial": chosen,
                **hp,
                "val_error_per_trial": record["scores"],
                "selection": record,
            }
        )
        row = {
            "task": task,
            "method": method,
            "critic_activation": act,
            "chosen_trial": chosen,
            **hp,
            "n_seeds": len(members),
            "n_ok": len(ok),
            "n_diverged": sum(
                p is not None and p["status"] == "diverged" for _, p in members.values()
            ),
            "n_converged": sum(_converged(p, cell0["steps"]) for p in ok),
            "val_acc_mean": _mean(p["val_acc"] for p in ok),
            "test_acc_mean": None if acc[0] is None else float(acc[0]),
            "test_acc_se": None if acc[1] is None else float(acc[1]),
            **{k: _mean(_final(p, k) for p in ok) for k in DIAGNOSTICS},
            "seconds_per_step": _mean(p["seconds_per_step"] for p in ok),
        }
        rows.append(row)
        for t, runs in trials.items():
            curves[f"{task}|{name}|{t}"] = _curves([p for _, p in runs.values() if _ok(p)])
    return {"summary": rows, "selection": selection, "curves": curves}


def _curves(ok: list[dict]) -> dict[str, Any]:
    """Mean curves over seeds; runs of other lengths than the first are left out."""
    if not ok:
        return {}
    steps = ok[0]["curves"]["step"]
    ok = [p for p in ok if p["curves"]["step"] == steps]
    out: dict[str, Any] = {"step": steps, "n_seeds": len(ok)}
    for key in ("val_acc", "test_acc"):
        out[key] = np.mean([p["curves"][key] for p in ok], 0).tolist()
    for key in ("cosine", "r2", "common", "dead"):
        arr = np.array(
            [[[np.nan if v is None else v for v in pt] for pt in p["curves"][key]] for p in ok],
            dtype=float,
        )  # (seeds, points, modules or cuts)
        if arr.size:
            with warnings.catch_warnings():  # a module with no finite value: NaN, kept
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(arr, 0)
            out[key] = [[None if math.isnan(v) else v for v in row] for row in mean.tolist()]
    return out


def _test_error(p: dict | None) -> float:
    """100 - test accuracy in %; NaN for a diverged or failed run (dropped from its pairs)."""
    return 100.0 * (1.0 - p["test_acc"]) if _ok(p) else math.nan


def uninformative(summary: list[dict]) -> set[str]:
    """Tasks where no-prop's test accuracy is within 2 points of backprop's."""
    acc = {(r["task"], r["method"]): r["test_acc_mean"] for r in summary}
    out = set()
    for task in {r["task"] for r in summary}:
        bp, npp = acc.get((task, "backprop")), acc.get((task, "noprop"))
        if bp is not None and npp is not None and 100 * (bp - npp) < UNINFORMATIVE_POINTS:
            out.add(task)
    return out


def comparisons(config: SGConfig, cells, payloads, summary) -> list[dict[str, Any]]:
    """The paired comparisons of the verdict table (see the module docstring)."""
    errors: dict[tuple, dict[int, float]] = {}
    chosen = {(r["task"], r["method"], r["critic_activation"]): r["chosen_trial"] for r in summary}
    for c, p in zip(cells, payloads, strict=True):
        key = (c["task"], c["method"], c["critic_activation"])
        if chosen.get(key) == c["trial"]:
            errors.setdefault(key, {})[c["seed"]] = _test_error(p)
    flagged = uninformative(summary)
    out = []
    for task in config.tasks:
        pairs = []
        for act in config.critic_activations:
            sob, grad, val = (
                (m, act) for m in ("sobolev_critic", "gradient_critic", "value_critic")
            )
            pairs += [(grad, sob, CLAIM_RQ3B), (val, sob, CLAIM_VALUE)]
        for key in errors:
            if key[0] == task and key[1] != "backprop":
                name = variant(key[1], key[2])
                pairs.append((("backprop", None), key[1:], f"{name} against end-to-end backprop"))
        for base, meth, claim in pairs:
            b, m = errors.get((task, *base)), errors.get((task, *meth))
            if b is None or m is None:
                continue
            cell = {"task": task}
            if task in flagged:
                cell["flag"] = "uninformative"
            out.append(
                {
                    "claim": claim,
                    "cell": cell,
                    "metric": METRIC,
                    "baseline": variant(*base),
                    "method": variant(*meth),
                    "baseline_errors": b,
                    "method_errors": m,
                }
            )
    return out


def summarise(config: SGConfig, cells: list[dict], payloads: list[dict | None]) -> dict[str, Any]:
    """Selection, summary rows, curves, verdicts and convergence (Study contract)."""
    agg = aggregate(cells, payloads)
    return {
        "tasks": list(config.tasks),
        **agg,
        "uninformative_tasks": sorted(uninformative(agg["summary"])),
        "verdicts": paired_verdicts(comparisons(config, cells, payloads, agg["summary"])),
        "convergence": convergence_record(
            [
                _converged(p, c["steps"]) if _ok(p) else False
                for c, p in zip(cells, payloads, strict=True)
            ],
            CRITERION.replace("held-out loss", "validation error"),
        ),
    }


def _hp_text(r: dict) -> str:
    if r["method"] in ("backprop", "noprop"):
        return f"lr {fmt(r['lr'])}"
    if r["method"] == "sobolev_critic":
        kind = "norm" if r["normalise"] else "raw"
        return f"{kind}:{fmt(r['w_value'])}"
    return f"module lr {fmt(r['module_lr'])}"


def _tables(summary: dict[str, Any]) -> str:
    flagged = set(summary["uninformative_tasks"])
    sel = {(s["task"], s["variant"]): s for s in summary["selection"]}
    lines = []
    for task in summary["tasks"]:
        rows = [r for r in summary["summary"] if r["task"] == task]
        if not rows:
            continue
        note = " (uninformative: no-prop is within 2 points of backprop)" if task in flagged else ""
        lines.append(f"## {task}{note}\n")
        body = []
        for r in rows:
            name = variant(r["method"], r["critic_activation"])
            trials = " / ".join(
                "-" if v is None else f"{100 - v:.1f}"
                for v in sel[task, name]["val_error_per_trial"]
            )
            test = (
                "-"
                if r["test_acc_mean"] is None
                else pm(100 * r["test_acc_mean"], 100 * r["test_acc_se"])
            )
            body.append(
                [
                    name,
                    _hp_text(r),
                    trials,
                    test,
                    f"{r['n_ok']}/{r['n_seeds']}",
                    f"{r['n_converged']}/{r['n_ok']}",
                    *(fmt(r[k], 2) for k in DIAGNOSTICS),
                ]
            )
        header = ["method", "chosen", "val acc per trial [%]", "test acc [%]", "ok",
                  "converged", "cosine", "R²", "common share", "dead units"]  # fmt: skip
        lines.append(markdown_table(header, body))
    return "\n".join(lines)


def render(config: SGConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (one row per task and method) and ``result.md`` (tables, verdicts)."""
    md = (
        "# Synthetic gradients: trials chosen on validation\n\n"
        f"{config.seeds} seeds; {config.steps} steps per run, batch {config.batch_size}; "
        f"{config.n_trials} trial configurations per method, chosen on the validation split; "
        "test accuracy at each run's best validation point. Diagnostics at the end of "
        "training on a fixed batch of training samples, averaged over modules (cuts).\n\n"
        + _tables(summary)
    )
    md += "\n**Paired verdicts (test error, ratio baseline / method > 1: method better)**\n\n"
    md += verdict_table(summary["verdicts"])
    return {"result.csv": csv_text(summary["summary"], CSV_FIELDS), "result.md": md}


def preflight(config: SGConfig) -> None:
    """Fail on missing data, a missing package or a missing GPU before any training.

    Raises
    ------
    ValueError
        ``data_dir`` missing or malformed, ``mnist1d`` not installed
        (:class:`.data.DataError`), or a CUDA device without CUDA.
    """
    from sobolev_lab.experiments.synthetic_gradients.config import parse_task
    from sobolev_lab.experiments.synthetic_gradients.data import load_dataset

    for dataset in {parse_task(t)[0] for t in config.tasks} - {"digits"}:
        load_dataset(dataset, config.data_dir)
    if config.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={config.device} was asked for but CUDA is not available")
