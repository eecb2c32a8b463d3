"""Seed a run's cells from results already stored under other names (``--reuse``).

A preset whose cells were computed and shipped in parts (``--set functions=...
--name PART``) is assembled by running the whole preset with ``--reuse`` on the parts:
every cell whose config hash matches a cell stored in a part's ``result.json`` is
written to this run's ``cells/`` folder instead of being computed again. A cell that
is already in the folder is left as it is. The seeded cell records where it came from
(``reused_from``) and the source's provenance (``source_environment``); its compute
time is unknown (None), so ``timing`` counts it as reused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sobolev_lab.results import CorruptResultError, config_hash, read_result, write_result
from sobolev_lab.sweep import cell_path

__all__ = ["seed_cells"]


def _result_file(source: str | os.PathLike) -> Path:
    path = Path(source)
    if path.is_dir():
        path = path / "result.json"
    if not path.is_file():
        raise ValueError(
            f"--reuse {source}: expected a result folder or its result.json, found nothing there"
        )
    return path


def seed_cells(
    study_name: str, cells: Sequence[dict[str, Any]], folder: Path, sources: Sequence
) -> None:
    """Write the cells of ``sources`` that match ``cells`` into ``folder/cells/``.

    Parameters
    ----------
    study_name : str
        Sources must hold results of this study.
    cells : sequence of dict
        The configs of the run.
    folder : Path
        The run's output folder.
    sources : sequence of path-like
        Result folders (or their ``result.json``) written by the runner.

    Raises
    ------
    ValueError
        A source that is missing, unreadable or of another study.
    """
    wanted = {config_hash(c): c for c in cells}
    for source in sources:
        path = _result_file(source)
        try:
            stored = read_result(path)
        except CorruptResultError as exc:
            raise ValueError(f"--reuse {source}: {exc}") from None
        payload = stored["payload"]
        if payload.get("study") != study_name:
            raise ValueError(
                f"--reuse {source}: holds a result of study {payload.get('study')!r}, "
                f"not {study_name!r}"
            )
        for entry in payload.get("cells", []):
            h = config_hash(entry["cell"])
            if h not in wanted or entry.get("result") is None:
                continue
            target = cell_path(folder, wanted[h])
            if target.exists():
                continue
            record = {
                "status": "done",
                "result": entry["result"],
                "seconds": None,
                "reused_from": str(path),
                "source_environment": stored.get("environment"),
            }
            write_result(target, record, wanted[h])
