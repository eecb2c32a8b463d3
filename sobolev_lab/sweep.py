"""Resumable sweeps: grids of independent cells run through joblib.

A cell is one JSON-serialisable config; ``fn(config) -> dict`` computes it. Each
finished cell is written atomically to ``out_dir/cells/<config hash>.json`` by the
driver process as soon as it arrives, so an interrupted sweep loses only the cells
in flight. Re-running skips finished cells, recomputes corrupt files, and retries
cells recorded as failed. A cell that raises is recorded as failed with its error
and does not stop the others.

Backends: ``"sequential"`` (in-process), ``"loky"`` (worker processes, one torch
thread each) and ``"dask"`` (a running ``dask.distributed`` scheduler at
``scheduler``; workers need not share a file system, since results travel back to
the driver).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from sobolev.fit import progress_enabled
from sobolev_lab.results import CorruptResultError, config_hash, read_result, write_result

__all__ = ["SweepResult", "cell_path", "run_sweep"]

Backend = Literal["sequential", "loky", "dask"]


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    Attributes
    ----------
    configs : list of dict
        The cells, in the order given.
    payloads : list of dict or None
        ``fn``'s result per cell (None where the cell failed).
    done, skipped, failed : int
        Cells computed now, found finished on disk, and failed.
    errors : dict of str to str
        Traceback text of each failed cell, keyed by its config hash.
    seconds : list of float or None
        Compute time per cell as recorded when it ran.
    reused : list of bool
        Per cell, whether it was found finished on disk (its ``seconds`` are then those
        of an earlier call, possibly on a differently loaded machine).
    wall_time : float
        Wall-clock seconds of this call.
    """

    configs: list[dict[str, Any]]
    payloads: list[dict[str, Any] | None]
    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: list[float | None] = field(default_factory=list)
    reused: list[bool] = field(default_factory=list)
    wall_time: float = 0.0

    def summary(self) -> str:
        """One line: cells done, skipped, failed and wall time."""
        return (
            f"{len(self.configs)} cells: {self.done} done, {self.skipped} skipped, "
            f"{self.failed} failed, wall {self.wall_time:.1f} s"
        )

    def raise_on_failure(self) -> None:
        """Raise RuntimeError with every failed cell's traceback, if any cell failed.

        Finished cells stay on disk, so the next run reuses them and retries the rest.
        """
        if self.failed:
            details = "\n".join(f"cell {h}:\n{err}" for h, err in self.errors.items())
            raise RuntimeError(
                f"{self.failed} of {len(self.configs)} cells failed (finished cells are kept "
                f"and reused by the next run):\n{details}"
            )


def cell_path(out_dir: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Where the cell for ``config`` is stored."""
    return Path(out_dir) / "cells" / f"{config_hash(config)}.json"


def _execute(fn: Callable[[dict], dict], config: dict[str, Any]) -> dict[str, Any]:
    """Run one cell in a worker; never raises, so one bad cell cannot stop a sweep."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    t0 = time.perf_counter()
    try:
        result = fn(config)
        if not isinstance(result, dict):
            raise TypeError(f"sweep function must return a dict, got {type(result).__name__}")
        return {"status": "done", "result": result, "seconds": time.perf_counter() - t0}
    except Exception:
        return {"status": "failed", "error": traceback.format_exc(), "seconds": None}


def _load_finished(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = read_result(path)
    except CorruptResultError as exc:
        warnings.warn(f"recomputing cell: {exc}", RuntimeWarning, stacklevel=3)
        return None
    payload = doc["payload"]
    return payload if payload.get("status") == "done" else None


def _iterate(
    fn, todo: list[dict], backend: Backend, n_jobs: int | None, scheduler: str | None
) -> Iterable[tuple[int, dict]]:
    if backend == "sequential" or not todo:
        for i, cfg in enumerate(todo):
            yield i, _execute(fn, cfg)
        return
    from joblib import Parallel, delayed, parallel_config

    tasks = (delayed(_indexed)(fn, i, cfg) for i, cfg in enumerate(todo))
    if backend == "loky":
        n = n_jobs or min(len(todo), os.cpu_count() or 1)
        with parallel_config(backend="loky", inner_max_num_threads=1):
            yield from Parallel(n_jobs=n, return_as="generator_unordered")(tasks)
        return
    from dask.distributed import Client

    with Client(scheduler) as client, parallel_config(backend="dask", client=client):
        yield from Parallel(n_jobs=n_jobs or -1, return_as="generator_unordered")(tasks)


def _indexed(fn, i: int, config: dict) -> tuple[int, dict]:
    return i, _execute(fn, config)


def run_sweep(
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    configs: Sequence[dict[str, Any]],
    out_dir: str | os.PathLike,
    *,
    backend: Backend = "loky",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    desc: str = "sweep",
) -> SweepResult:
    """Run every cell of a sweep that is not finished yet, and collect all results.

    Parameters
    ----------
    fn : callable
        Top-level (picklable) function ``fn(config) -> dict`` of JSON-serialisable
        values; called in worker processes with one torch thread.
    configs : sequence of dict
        One JSON-serialisable config per cell; duplicates are computed once.
    out_dir : path-like
        Folder holding ``cells/``.
    backend : {"loky", "sequential", "dask"}
    n_jobs : int, optional
        Worker processes (loky: default all cores; dask: default all workers).
    scheduler : str, optional
        Address of a dask scheduler, e.g. ``"tcp://127.0.0.1:8786"`` (dask only).
    progress : bool
        Progress bar over cells and a summary line on stderr.
    desc : str
        Label of the progress bar.

    Returns
    -------
    SweepResult
    """
    if backend not in ("sequential", "loky", "dask"):
        raise ValueError(f'backend must be "sequential", "loky" or "dask", got {backend!r}')
    if backend == "dask" and not scheduler:
        raise ValueError('backend="dask" needs scheduler, the address of a dask scheduler')
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise ValueError(f"n_jobs must be a positive integer or None, got {n_jobs!r}")
    configs = [dict(c) for c in configs]
    for c in configs:
        config_hash(c)  # fails early on configs that cannot be serialised
    t0 = time.perf_counter()
    out = SweepResult(configs=configs, payloads=[None] * len(configs))
    out.seconds = [None] * len(configs)
    out.reused = [False] * len(configs)
    paths = [cell_path(out_dir, c) for c in configs]
    todo_index: dict[Path, list[int]] = {}
    for i, path in enumerate(paths):
        finished = _load_finished(path)
        if finished is not None:
            out.payloads[i], out.seconds[i] = finished["result"], finished.get("seconds")
            out.reused[i] = True
            out.skipped += 1
        else:
            todo_index.setdefault(path, []).append(i)
    todo = [configs[idx[0]] for idx in todo_index.values()]
    todo_slots = list(todo_index.values())
    show = progress_enabled(progress)
    bar = tqdm(total=len(todo), desc=desc, disable=not show, leave=False)
    for j, record in _iterate(fn, todo, backend, n_jobs, scheduler):
        slots = todo_slots[j]
        write_result(paths[slots[0]], record, todo[j])
        for i in slots:
            if record["status"] == "done":
                out.payloads[i], out.seconds[i] = record["result"], record["seconds"]
                out.done += 1
            else:
                out.failed += 1
                out.errors[config_hash(configs[i])] = record["error"]
        bar.update(1)
    bar.close()
    out.wall_time = time.perf_counter() - t0
    if progress:
        print(f"{desc}: {out.summary()}", file=sys.stderr)
    return out
