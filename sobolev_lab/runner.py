"""The one runner behind ``sobolev run`` and ``sobolev report``.

Output layout, the same for every study::

    OUT/<study>/<name>/cells/<hash>.json   one file per finished (or failed) cell
    OUT/<study>/<name>/result.json         config, provenance, summary, every cell
    OUT/<study>/<name>/result.csv|md       tables drawn from the summary (+ extras)
    OUT/<study>/<name>/failed.json         only while some cells fail

``<name>`` is the preset's name, or ``--name``, or ``<preset>-custom-<hash>`` when
``--set`` changes the preset. A run never writes into the folder of another preset,
and never replaces a ``result.json`` made from a different config (unless asked to
with ``overwrite=True``), so shipped results cannot be lost by a quick or custom run.

Failure policy: a cell that raises is recorded with its traceback, the other cells
finish, ``failed.json`` lists the failures, no ``result.*`` is written (an earlier
one stays as it was) and :func:`run` raises :class:`CellFailures`, which the command
line turns into exit status 1. Re-running retries the failed cells only.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sobolev_lab.config import StudyConfig
from sobolev_lab.results import (
    CorruptResultError,
    atomic_write_text,
    config_hash,
    environment,
    read_result,
    write_result,
)
from sobolev_lab.reuse import seed_cells
from sobolev_lab.study import Study, check_summary
from sobolev_lab.sweep import run_sweep

__all__ = [
    "CellFailures",
    "LegacyResult",
    "ResultConflict",
    "RunOutcome",
    "output_dir",
    "report",
    "result_name",
    "run",
]


class CellFailures(RuntimeError):
    """Some cells failed; finished cells are kept and the next run retries the rest."""


class ResultConflict(ValueError):
    """The output folder holds a result of a different config."""


class LegacyResult(ValueError):
    """A stored result whose config the study's current code no longer accepts."""


@dataclass
class RunOutcome:
    """What :func:`run` and :func:`report` did.

    Attributes
    ----------
    folder : Path
        ``OUT/<study>/<name>``.
    payload : dict
        The payload written to ``result.json``.
    files : list of Path
        Every file written (``result.json`` first).
    """

    folder: Path
    payload: dict[str, Any]
    files: list[Path]


def result_name(study: Study, preset: str, config: StudyConfig, name: str | None) -> str:
    """The output folder name of a run (see the module docstring)."""
    base = study.preset(preset)
    if name is not None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"--name must be a plain folder name, got {name!r}")
        if name in study.presets and name != preset:
            raise ValueError(
                f"--name {name!r} is the folder of preset {name!r}; a run of preset "
                f"{preset!r} may not write there"
            )
        if name == preset and config != base:
            raise ValueError(
                f"--name {name!r} is the folder of the unmodified preset; give another "
                "name for a run with --set"
            )
        return name
    if config == base:
        return preset
    return f"{preset}-custom-{config_hash(config.to_dict(), 8)}"


def output_dir(out: str | os.PathLike, study: Study, name: str) -> Path:
    """``OUT/<study>/<name>``."""
    return Path(out) / study.name / name


def _stored_config(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return read_result(path)["config"]
    except CorruptResultError:
        return None


def _write_tables(study: Study, config: StudyConfig, folder: Path, summary: dict) -> list[Path]:
    tables = study.render(config, summary)
    missing = [k for k in ("result.csv", "result.md") if k not in tables]
    if missing:
        raise ValueError(f"{study.name}: render() must return {missing}")
    written = []
    for fname, text in tables.items():
        if "/" in fname or fname == "result.json":
            raise ValueError(f"{study.name}: render() returned a bad file name {fname!r}")
        written.append(atomic_write_text(folder / fname, text))
    return written


def run(
    study: Study,
    preset: str = "quick",
    overrides: tuple[str, ...] | list[str] = (),
    *,
    out: str | os.PathLike = "results",
    name: str | None = None,
    jobs: int = 1,
    backend: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    reuse: tuple | list = (),
) -> RunOutcome:
    """Run (or resume) one study and write its result files.

    Parameters
    ----------
    study : Study
    preset : str
        A name from ``study.presets``.
    overrides : sequence of str
        ``key=value`` changes to the preset's config (``--set``).
    out : path-like
        Results root; the files go to ``OUT/<study>/<name>/``.
    name : str, optional
        Folder name; default the preset's name, or ``<preset>-custom-<hash>``.
    jobs : int
        Worker processes; 1 runs in this process.
    backend : {"sequential", "loky", "dask"}, optional
        Default: ``"sequential"`` for one job, else ``"loky"``.
    scheduler : str, optional
        dask scheduler address (``backend="dask"``).
    progress : bool
        Progress bar and summary line on stderr.
    overwrite : bool
        Replace a ``result.json`` made from a different config.
    reuse : sequence of path-like
        Result folders of this study (``--reuse``) whose stored cells with the same
        config are taken instead of computed (:mod:`sobolev_lab.reuse`).

    Raises
    ------
    ValueError
        Bad options or config (before any training); :class:`ResultConflict` for a
        folder holding another config's result.
    CellFailures
        Some cells failed (after every other cell finished).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    backend = backend or ("sequential" if jobs == 1 else "loky")
    config = study.preset(preset, overrides)
    name = result_name(study, preset, config, name)
    folder = output_dir(out, study, name)
    stored = _stored_config(folder / "result.json")
    if stored is not None and stored != config.to_dict() and not overwrite:
        raise ResultConflict(
            f"{folder}/result.json holds a result of another config; choose another "
            "--name, or pass --overwrite to replace it"
        )
    if study.preflight is not None:
        study.preflight(config)
    cells = study.cells(config)
    if reuse:
        seed_cells(study.name, cells, folder, reuse)
    t0 = time.perf_counter()
    sweep = run_sweep(
        study.run_cell,
        cells,
        folder,
        backend=backend,
        n_jobs=None if backend == "sequential" else jobs,
        scheduler=scheduler,
        progress=progress,
        desc=f"{study.name}[{name}]",
    )
    wall = time.perf_counter() - t0
    if sweep.failed:
        failures = [
            {"cell": c, "error": sweep.errors[config_hash(c)]}
            for c, p in zip(cells, sweep.payloads, strict=True)
            if p is None and config_hash(c) in sweep.errors
        ]
        atomic_write_text(folder / "failed.json", json.dumps(failures, indent=1) + "\n")
        details = "\n".join(f["error"].strip().splitlines()[-1] for f in failures)
        raise CellFailures(
            f"{sweep.failed} of {len(cells)} cells failed; tracebacks in {folder}/failed.json "
            f"(finished cells are kept; re-run to retry):\n{details}"
        )
    (folder / "failed.json").unlink(missing_ok=True)
    timing = {
        "wall_seconds": wall,
        "cell_seconds_total": sum(s for s in sweep.seconds if s is not None),
        # The cells computed by this call alone: reused cells keep the seconds of the
        # call that made them, perhaps on a busier machine.
        "cell_seconds_computed": sum(
            s for s, r in zip(sweep.seconds, sweep.reused, strict=True) if s is not None and not r
        ),
        "cells_computed": sweep.done,
        "cells_reused": sweep.skipped,
        "backend": backend,
        "jobs": jobs,
        "cpu_count": os.cpu_count(),
    }
    return _finish(study, preset, name, config, folder, cells, sweep.payloads, timing)


def _finish(
    study: Study,
    preset: str,
    name: str,
    config: StudyConfig,
    folder: Path,
    cells: list[dict],
    payloads: list[dict],
    timing: dict[str, Any],
) -> RunOutcome:
    summary = study.summarise(config, cells, payloads)
    check_summary(study.name, summary)
    payload = {
        "study": study.name,
        "preset": preset,
        "name": name,
        **summary,
        "timing": timing,
        "cells": [{"cell": c, "result": p} for c, p in zip(cells, payloads, strict=True)],
    }
    files = [write_result(folder / "result.json", payload, config.to_dict())]
    files += _write_tables(study, config, folder, summary)
    return RunOutcome(folder=folder, payload=payload, files=files)


def _close(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """JSON values equal up to a relative ``rel`` in their floats."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isfinite(a) and math.isfinite(b):
        return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)
    return a == b


def report(
    study: Study, folder: str | os.PathLike, *, rebuilt_env: dict[str, Any] | None = None
) -> RunOutcome:
    """Rebuild the summary and tables of a stored result from its cells, without training.

    ``result.json`` is rewritten only when the recomputed summary differs from the
    stored one beyond rounding (a relative 1e-9: another numpy may sum in another
    order). A rewrite keeps the provenance of the run that computed the cells and adds
    the report's under ``environment["summary_rebuilt"]``: ``rebuilt_env``, or
    :func:`sobolev_lab.results.environment` now. A caller rebuilding several folders
    takes it once before the first, since each rewrite leaves the git tree modified and
    would mark the later folders' commit ``-dirty``.

    Raises
    ------
    FileNotFoundError
        No ``result.json`` in ``folder``.
    sobolev_lab.results.CorruptResultError
        The file fails its checksum.
    """
    folder = Path(folder)
    path = folder / "result.json"
    if not path.is_file():
        raise FileNotFoundError(f"no result at {path}; run `sobolev run {study.name}` first")
    doc = read_result(path)
    stored = doc["payload"]
    try:
        config = study.config.from_dict(doc["config"])
    except (TypeError, ValueError) as exc:
        commit = doc.get("environment", {}).get("git_commit")
        raise LegacyResult(
            f"{path} was made by an earlier version of the study (commit {commit}) whose "
            f"config the current code does not accept ({str(exc).split('; fields')[0]}); it is "
            "kept as shipped, and "
            "that commit rebuilds it"
        ) from None
    cells = [c["cell"] for c in stored["cells"]]
    payloads = [c["result"] for c in stored["cells"]]
    summary = study.summarise(config, cells, payloads)
    check_summary(study.name, summary)
    fresh = json.loads(json.dumps(summary, default=lambda o: o.tolist()))
    same = all(_close(stored.get(k), v) for k, v in fresh.items())
    files: list[Path] = []
    if not same:
        payload = {**stored, **summary}
        env = {**doc["environment"], "summary_rebuilt": rebuilt_env or environment()}
        files.append(write_result(path, payload, doc["config"], env))
    else:
        payload = stored
    files += _write_tables(study, config, folder, summary)
    return RunOutcome(folder=folder, payload=payload, files=files)
