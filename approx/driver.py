"""Run an approx study as a resumable sweep and write its JSON and CSV results.

Cells live in ``OUT/<study>_<preset>/cells/`` (re-running skips finished cells and
retries failed ones); the summary goes to ``OUT/<study>_<preset>.json`` (written by
:func:`sobolev_lab.results.write_result`) and ``OUT/<study>_<preset>.csv``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Literal

from sobolev_lab.results import config_hash, write_result
from sobolev_lab.sweep import run_sweep

__all__ = ["STUDIES", "run_study"]

STUDIES = ("universal", "samples")


def _module(study: str):
    if study == "universal":
        from sobolev_lab.approx import universal

        return universal
    if study == "samples":
        from sobolev_lab.approx import sample_complexity

        return sample_complexity
    raise ValueError(f"study must be one of {STUDIES}, got {study!r}")


def run_study(
    study: Literal["universal", "samples"],
    preset: str | dict[str, Any] = "quick",
    out_dir: str | Path = "results/approx",
    *,
    name: str | None = None,
    backend: str = "loky",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) one study and write ``<name>.json`` and ``<name>.csv``.

    Parameters
    ----------
    study : {"universal", "samples"}
    preset : str or dict
        A key of the module's ``PRESETS`` or a full preset dict.
    out_dir : path-like
    name : str, optional
        File stem; default ``<study>_<preset>`` (``<study>_custom`` for a dict).
    backend, n_jobs, scheduler, progress
        Passed to :func:`sobolev_lab.sweep.run_sweep`.

    Returns
    -------
    dict
        The payload written to the JSON file.
    """
    mod = _module(study)
    if isinstance(preset, str):
        if preset not in mod.PRESETS:
            raise ValueError(f"preset must be one of {sorted(mod.PRESETS)}, got {preset!r}")
        label, spec = preset, mod.PRESETS[preset]
    else:
        label, spec = "custom", dict(preset)
    name = name or f"{study}_{label}"
    cfgs = mod.configs(spec)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    res = run_sweep(
        mod.cell,
        cfgs,
        out_dir / name,
        backend=backend,
        n_jobs=n_jobs,
        scheduler=scheduler,
        progress=progress,
        desc=f"approx {study}",
    )
    payload: dict[str, Any] = {
        "study": study,
        "preset": label,
        "schema": mod.__name__ + " module docstring",
        "cells": {
            "total": len(cfgs),
            "done": res.done,
            "skipped": res.skipped,
            "failed": res.failed,
        },
        "timing": {
            "wall_seconds_this_run": time.perf_counter() - t0,
            "cell_seconds_total": sum(s for s in res.seconds if s is not None),
            "backend": backend,
            "n_jobs": n_jobs,
        },
        "failed_cells": [
            {"config": c, "error": res.errors[config_hash(c)]}
            for c, p in zip(cfgs, res.payloads, strict=True)
            if p is None and config_hash(c) in res.errors
        ],
        **mod.summarise(cfgs, res.payloads, spec),
    }
    write_result(out_dir / f"{name}.json", payload, {"study": study, "preset": label, **spec})
    rows = mod.csv_rows(cfgs, res.payloads)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(out_dir / f"{name}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return payload
