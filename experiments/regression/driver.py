"""``run(config)``: validate, sweep the cells, aggregate and write the result files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sobolev_lab.experiments.regression import report
from sobolev_lab.experiments.regression.config import preset, validate
from sobolev_lab.experiments.regression.study import cell_configs, run_cell

__all__ = ["regenerate", "run"]

NORMALISATION = (
    "inputs u = (x - c) / r with c, r the centre and half-widths of the domain; values "
    "v = (y - mean) / std with the mean and std of each seed's training values; "
    "derivatives dv/du = (r / std) dy/dx; identical for every method; unit weights on "
    "the value and gradient terms in these units; test metrics in original units"
)

KINKS = (
    "non-smooth functions (registry flag smooth=False; here Ackley at the origin in every "
    "dimension and Bukin N.6 on the ridge x2 = x1^2/100 and on x1 = -10): training and test "
    "points uniform on the whole domain (no margin, as in the paper); targets follow the "
    "sobolev_lab.theory.functions convention (a non-smooth summand contributes 0 to the gradient at the "
    "kink, never NaN); *_away metrics repeat the test MSEs on the test points at least "
    "kink_margin x (domain diagonal) from the kink set"
)


def run(
    config: dict[str, Any] | str,
    *,
    out_dir: str | os.PathLike = "results/regression",
    backend: str = "loky",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    write: bool = True,
) -> dict[str, Any]:
    """Run the regression study (resuming finished cells) and return its payload.

    Parameters
    ----------
    config : dict or str
        A config (see :mod:`sobolev_lab.experiments.regression.config`) or a preset name
        (``"quick"``, ``"paper"``, ``"extended"``). Validated before any training.
    out_dir : path-like
        Holds ``cells/`` (one file per finished cell) and, when ``write``, the study's
        ``<name>.json`` (:func:`sobolev_lab.results.write_result`), ``<name>.csv`` and
        ``<name>.md``.
    backend, n_jobs, scheduler
        Passed to :func:`sobolev_lab.sweep.run_sweep`.
    progress : bool
        Progress bar and summary on stderr.
    write : bool
        Write the three study files.

    Returns
    -------
    dict
        ``config``, ``rows`` (one per function, size, budget and method: mean and
        s.e.m. over seeds, ratios regular / method), ``convergence``, ``cells`` (per-seed
        numbers), ``grids`` (figure data), ``timing``, ``normalisation``, ``kinks``.

    Raises
    ------
    ValueError
        Invalid config (before any training).
    RuntimeError
        Some cells failed; their tracebacks are in the message (finished cells stay
        on disk and are reused by the next run).
    """
    from sobolev_lab.sweep import run_sweep

    cfg = validate(preset(config) if isinstance(config, str) else config)
    cells = cell_configs(cfg)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    sweep = run_sweep(
        run_cell,
        cells,
        out_dir,
        backend=backend,
        n_jobs=n_jobs,
        scheduler=scheduler,
        progress=progress,
        desc=f"regression[{cfg['name']}]",
    )
    wall = time.perf_counter() - t0
    sweep.raise_on_failure()
    rows = report.summary_rows(cells, sweep.payloads)
    per_seed = [
        {"cell": c, "methods": p["methods"], "kink": p.get("kink")}
        for c, p in zip(cells, sweep.payloads, strict=True)
    ]
    convergence = (
        report.convergence_rows(rows, cfg["steps"], per_seed) if cfg["convergence_check"] else []
    )
    grids: dict[str, dict[str, Any]] = {}
    for cell, pay in zip(cells, sweep.payloads, strict=True):
        if pay.get("grid"):
            grids.setdefault(cell["function"], {})[str(cell["n_train"])] = pay["grid"]
    payload = {
        "config": cfg,
        "rows": rows,
        "convergence": convergence,
        "cells": per_seed,
        "grids": grids,
        "normalisation": NORMALISATION if cfg["normalise"] else "none",
        "kinks": KINKS,
        "timing": {
            "wall_seconds_this_run": wall,
            "backend": backend,
            "n_jobs": n_jobs,
            "cells_computed": sweep.done,
            "cells_reused": sweep.skipped,
            "cell_seconds": sweep.seconds,
            "cell_seconds_total": sum(s for s in sweep.seconds if s is not None),
            "cpu_count": os.cpu_count(),
        },
    }
    if write:
        from sobolev_lab.results import atomic_write_text, write_result

        name = cfg["name"]
        write_result(out_dir / f"{name}.json", payload, cfg)
        atomic_write_text(out_dir / f"{name}.csv", report.to_csv(rows))
        atomic_write_text(out_dir / f"{name}.md", report.markdown(payload))
    return payload


def regenerate(path: str | os.PathLike) -> dict[str, Any]:
    """Rewrite the CSV and Markdown tables of a stored result from its per-seed numbers.

    No training and no change to the JSON: the file is read and verified
    (:func:`sobolev_lab.results.read_result`), its summary is recomputed from the per-seed
    numbers by :func:`sobolev_lab.experiments.regression.report.rebuild` (which checks that the
    recomputed numbers equal the stored ones), and ``<name>.csv`` / ``<name>.md`` are
    written beside it. Use it after a change to the report's layout.

    Parameters
    ----------
    path : path-like
        A ``<name>.json`` written by :func:`run`.

    Returns
    -------
    dict
        The rebuilt payload (``rows`` and ``convergence`` with the paired statistics).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    sobolev_lab.results.CorruptResultError
        The file fails its checksum.
    ValueError
        The stored summary disagrees with the per-seed numbers.
    """
    from sobolev_lab.results import atomic_write_text, read_result

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no regression result at {path}")
    payload = report.rebuild(read_result(path)["payload"])
    stem = path.with_suffix("")
    atomic_write_text(stem.with_suffix(".csv"), report.to_csv(payload["rows"]))
    atomic_write_text(stem.with_suffix(".md"), report.markdown(payload))
    return payload
