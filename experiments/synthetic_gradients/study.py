"""The study: every (method, modules, seed) cell on one dataset, aggregated and written.

Cells run through :func:`sobolev_lab.sweep.run_sweep`, so an interrupted study resumes
where it stopped (finished cells live in ``<out>/<dataset>/cells/``). Outputs:

* ``<out>/<dataset>.json``: :func:`sobolev_lab.results.write_result` document whose
  payload holds the summary rows, the mean/SE curves per (method, modules) for
  figure scripts, and every cell's own result;
* ``<out>/<dataset>.csv``: one row per (method, modules);
* ``<out>/<dataset>.md``: Markdown tables (test accuracy, gradient cosine).

Means are over the seeds whose run finished (``status == "ok"``); standard errors
are ``std(ddof=1) / sqrt(n)`` (0 for a single seed). Diverged cells are counted in
``n_diverged`` rather than hidden.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from sobolev_lab.experiments.synthetic_gradients.config import cell_configs
from sobolev_lab.experiments.synthetic_gradients.train import run_cell
from sobolev_lab.results import atomic_write_text, write_result
from sobolev_lab.stats import mean_sem
from sobolev_lab.sweep import run_sweep

__all__ = ["aggregate", "markdown_table", "run_study", "write_outputs"]

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
                    for j in range(modules if method in ("sg", "critic", "sobolev") else 0)
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
                    txt = f"{scale * mean:.2f} ± {scale * r[f'{key}_se']:.2f}"
                    if r["n_ok"] < r["n_seeds"]:
                        txt += f" ({r['n_seeds'] - r['n_ok']} of {r['n_seeds']} not ok)"
                    cells.append(txt)
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def write_outputs(
    out_dir: str | Path, dataset: str, payload: dict[str, Any], study: dict
) -> dict[str, Path]:
    """Write the JSON, CSV and Markdown files of a study; return their paths."""
    out_dir = Path(out_dir)
    paths = {
        "json": out_dir / f"{dataset}.json",
        "csv": out_dir / f"{dataset}.csv",
        "md": out_dir / f"{dataset}.md",
    }
    write_result(paths["json"], payload, study)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in payload["summary"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_FIELDS})
    atomic_write_text(paths["csv"], buf.getvalue())
    md = (
        f"# Synthetic gradients: {dataset} ({study['preset']} preset)\n\n"
        f"{study['seeds']} seeds; {study['cell'].get('steps')} steps per run; "
        f"study wall time {payload['wall_time_s']:.0f} s.\n\n" + markdown_table(payload["summary"])
    )
    atomic_write_text(paths["md"], md)
    return paths


def run_study(
    study: dict[str, Any],
    out_dir: str | Path = "results/sg",
    *,
    n_jobs: int = 1,
    progress: bool = True,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Run (or resume) a study made by :func:`study_config` and write its outputs.

    Parameters
    ----------
    study : dict
        From :func:`sobolev_lab.experiments.synthetic_gradients.config.study_config`.
    out_dir : path-like
        Where ``<dataset>.json/.csv/.md`` and ``<dataset>/cells/`` go.
    n_jobs : int
        Worker processes (1 runs the cells in this process).

    Returns
    -------
    payload : dict
        ``summary`` rows, ``curves``, ``cells``, sweep counts and wall time.
    paths : dict of str to Path
    """
    configs = cell_configs(study)
    dataset = study["cell"]["dataset"]
    sweep = run_sweep(
        run_cell,
        configs,
        Path(out_dir) / dataset,
        backend="sequential" if n_jobs == 1 else "loky",
        n_jobs=n_jobs,
        progress=progress,
        desc=f"sg {dataset}",
    )
    payload = aggregate(sweep.payloads, configs)
    payload.update(
        dataset=dataset,
        cells=sweep.payloads,
        sweep={"done": sweep.done, "skipped": sweep.skipped, "failed": sweep.failed},
        errors=sweep.errors,
        wall_time_s=sweep.wall_time,
        compute_time_s=float(sum(s for s in sweep.seconds if s is not None)),
    )
    return payload, write_outputs(out_dir, dataset, payload, study)
