"""Summary, verdicts and tables of the study, from the cells' payloads only.

* ``summary``: one row per (method, modules): seeds, finished (``status == "ok"``)
  and diverged runs, test accuracy and final gradient cosine (mean and standard
  error ``std(ddof=1) / sqrt(n)`` over the finished seeds, 0 for a single seed);
* ``curves``: mean/SE curves per ``"<method>/<modules>"`` for the figure;
* ``verdicts``: test error (100 - accuracy, in %) paired over seeds, per number of
  modules: the Sobolev critic against the gradient-only critic (the paper's claim
  RQ3b) and every method against backprop, Holm-corrected across the table
  (:func:`sobolev_lab.stats.paired_verdicts`). A diverged seed has no error and drops
  out of its pairs (``n_dropped``);
* ``convergence``: trainings counted; convergence is not assessed (issue #16).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sobolev_lab.experiments.synthetic_gradients.config import MODULE_METHODS, SGConfig
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, pm, verdict_table

__all__ = ["aggregate", "markdown_table", "preflight", "render", "summarise"]

CSV_FIELDS = (
    "dataset",
    "modules",
    "method",
    "n_seeds",
    "n_ok",
    "n_diverged",
    "test_acc_mean",
    "test_acc_se",
    "cosine_mean",
    "cosine_se",
    "seconds_per_step",
)

CLAIM_RQ3B = "RQ3b: a Sobolev-trained critic beats a gradient-only critic"
METRIC = "test error [%]"


def _mean_se(values: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return mean_sem(vals)


def _mean_cosine(cos: list | None) -> float | None:
    vals = [c for c in (cos or []) if c is not None]
    return float(np.mean(vals)) if vals else None


def aggregate(cells: list[dict[str, Any] | None], configs: list[dict]) -> dict[str, Any]:
    """Summary rows and mean/SE curves per (method, modules) from cell results.

    Parameters
    ----------
    cells : list of dict or None
        :func:`run_cell` results aligned with ``configs`` (None for a failed cell).
    configs : list of dict
    """
    groups: dict[tuple[str, int], list[tuple[dict, dict | None]]] = {}
    for cfg, cell in zip(configs, cells, strict=True):
        groups.setdefault((cfg["method"], cfg["modules"]), []).append((cfg, cell))
    rows, curves = [], {}
    for (method, modules), members in groups.items():
        ok = [c for _, c in members if c is not None and c["status"] == "ok"]
        acc = _mean_se([c["final_test_acc"] for c in ok])
        cos = _mean_se([_mean_cosine(c["final_cosine"]) for c in ok])
        rows.append(
            {
                "dataset": members[0][0]["dataset"],
                "modules": modules,
                "method": method,
                "n_seeds": len(members),
                "n_ok": len(ok),
                "n_diverged": sum(c is not None and c["status"] == "diverged" for _, c in members),
                "n_failed": sum(c is None for _, c in members),
                "test_acc_mean": acc[0],
                "test_acc_se": acc[1],
                "cosine_mean": cos[0],
                "cosine_se": cos[1],
                "final_cosine_per_module": [
                    _mean_se([c["final_cosine"][j] for c in ok])[0]
                    for j in range(modules if method in MODULE_METHODS else 0)
                ]
                if ok
                else [],
                "seconds_per_step": _mean_se([c["seconds_per_step"] for c in ok])[0],
            }
        )
        curves[f"{method}/{modules}"] = _curves(ok)
    return {"summary": rows, "curves": curves}


def _curves(ok: list[dict]) -> dict[str, Any]:
    if not ok:
        return {}
    steps = ok[0]["curves"]["step"]
    out: dict[str, Any] = {"step": steps}
    acc = np.array([c["curves"]["test_acc"] for c in ok], dtype=float)
    acc_mean, acc_se = mean_sem(acc)
    out["test_acc_mean"], out["test_acc_se"] = acc_mean.tolist(), acc_se.tolist()
    loss = np.array([c["curves"]["train_loss"] for c in ok], dtype=float)
    out["train_loss_mean"] = loss.mean(0).tolist()
    n_mod = len(ok[0]["curves"]["cosine"][0])
    if n_mod:
        cos = np.array(
            [[[np.nan if v is None else v for v in p] for p in c["curves"]["cosine"]] for c in ok],
            dtype=float,
        )  # (seeds, points, modules)
        out["cosine_mean"] = [
            [None if math.isnan(v) else v for v in row] for row in np.nanmean(cos, 0).tolist()
        ]
    return out


def _test_error(payload: dict[str, Any] | None) -> float:
    """100 - accuracy in %; NaN for a diverged or failed run (dropped from its pairs)."""
    if payload is None or payload["status"] != "ok" or payload["final_test_acc"] is None:
        return math.nan
    return 100.0 * (1.0 - payload["final_test_acc"])


def comparisons(
    config: SGConfig, cells: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """The paired comparisons of the verdict table (see the module docstring).

    Returns
    -------
    list of dict
        Input of :func:`sobolev_lab.stats.paired_verdicts`; errors aligned by seed.
    """
    errors: dict[tuple[str, int], dict[int, float]] = {}
    for cell, p in zip(cells, payloads, strict=True):
        errors.setdefault((cell["method"], cell["modules"]), {})[cell["seed"]] = _test_error(p)
    pairs = [("critic", "sobolev", CLAIM_RQ3B)]
    pairs += [("backprop", m, f"{m} against end-to-end backprop") for m in config.methods]
    out = []
    for k in config.modules:
        for baseline, method, claim in pairs:
            if method == baseline or (baseline, k) not in errors or (method, k) not in errors:
                continue
            seeds = sorted(errors[baseline, k].keys() & errors[method, k].keys())
            cell = {"dataset": config.dataset, "modules": k}
            if method in ("critic", "sobolev"):
                cell["critic_activation"] = config.critic_activation
            out.append(
                {
                    "claim": claim,
                    "cell": cell,
                    "metric": METRIC,
                    "baseline": baseline,
                    "method": method,
                    "baseline_errors": [errors[baseline, k][s] for s in seeds],
                    "method_errors": [errors[method, k][s] for s in seeds],
                }
            )
    return out


def summarise(
    config: SGConfig, cells: list[dict[str, Any]], payloads: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """Summary rows, curves, verdicts and convergence of the study (Study contract)."""
    return {
        "dataset": config.dataset,
        **aggregate(payloads, cells),
        "verdicts": paired_verdicts(comparisons(config, cells, payloads)),
        "convergence": {
            "trainings": len(cells),
            "converged": None,
            "criterion": "not assessed (issue #16)",
        },
    }


def markdown_table(summary: list[dict[str, Any]]) -> str:
    """Markdown tables: method rows, one column per number of modules, per dataset."""
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in summary):
        rows = [r for r in summary if r["dataset"] == dataset]
        mods = sorted({r["modules"] for r in rows})
        methods = list(dict.fromkeys(r["method"] for r in rows))
        index = {(r["method"], r["modules"]): r for r in rows}
        for title, key, scale in (
            ("test accuracy [%], mean ± SE over seeds", "test_acc", 100.0),
            ("gradient cosine (predicted vs true dL/dh, mean over modules)", "cosine", 1.0),
        ):
            lines.append(f"**{dataset}: {title}**\n")
            lines.append(
                "| method | " + " | ".join(f"{k} module{'s' * (k > 1)}" for k in mods) + " |"
            )
            lines.append("|---" * (len(mods) + 1) + "|")
            for m in methods:
                cells = []
                for k in mods:
                    r = index.get((m, k))
                    mean = None if r is None else r[f"{key}_mean"]
                    if mean is None:
                        cells.append("-")
                        continue
                    txt = pm(scale * mean, scale * r[f"{key}_se"])
                    if r["n_ok"] < r["n_seeds"]:
                        txt += f" ({r['n_seeds'] - r['n_ok']} of {r['n_seeds']} not ok)"
                    cells.append(txt)
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def render(config: SGConfig, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (one row per method and modules) and ``result.md`` (tables, verdicts)."""
    md = (
        f"# Synthetic gradients: {summary['dataset']}\n\n"
        f"{config.seeds} seeds; {config.steps} steps per run; critic activation "
        f"{config.critic_activation}.\n\n" + markdown_table(summary["summary"])
    )
    md += "\n**Paired verdicts (test error, ratio baseline / method > 1: method better)**\n\n"
    md += verdict_table(summary["verdicts"])
    return {"result.csv": csv_text(summary["summary"], CSV_FIELDS), "result.md": md}


def preflight(config: SGConfig) -> None:
    """Fail on a bad data directory or a missing GPU before any training.

    Raises
    ------
    ValueError
        ``data_dir`` missing or malformed (:class:`.data.DataError`), or
        ``device="cuda"`` without CUDA.
    """
    if config.dataset != "digits":
        from sobolev_lab.experiments.synthetic_gradients.data import load_dataset

        load_dataset(config.dataset, config.data_dir)
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("device=cuda was asked for but torch.cuda.is_available() is False")
