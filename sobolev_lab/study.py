"""The Study contract: what every study provides, and nothing else.

A study is a frozen, validated config dataclass, named presets, and four functions:

* ``cells(config) -> list[dict]``: the independent units of work, each a
  JSON-serialisable dict (its hash names its file, so resuming finds it again);
* ``run_cell(cell) -> dict``: computes one cell in a worker process (a top-level,
  picklable function); it must not read or write result files;
* ``summarise(config, cells, payloads) -> dict``: aggregates the cells' payloads
  (aligned with ``cells``). The summary must hold ``verdicts`` (a list of entries with
  :data:`sobolev_lab.stats.VERDICT_KEYS`) and ``convergence`` (``{trainings,
  converged, criterion}``);
* ``render(config, summary) -> dict[str, str]``: file name -> text of every table,
  drawn from the summary only; it must include ``result.csv`` and ``result.md``.

Everything else (validation of options, the sweep, resume, failures, timing, output
layout, provenance) belongs to :mod:`sobolev_lab.runner`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sobolev_lab.config import StudyConfig, apply_overrides
from sobolev_lab.stats import VERDICT_KEYS

__all__ = ["Study", "check_summary"]

#: Preset names every study defines: ``quick`` (CI, under a minute) and ``full`` (shipped).
REQUIRED_PRESETS = ("quick", "full")


@dataclass(frozen=True)
class Study:
    """One study under the contract (see the module docstring).

    Attributes
    ----------
    name : str
        The command-line name (``sobolev run <name>``) and the results sub-folder.
    description : str
        One line for ``sobolev list``.
    config : type of StudyConfig
    presets : mapping of str to mapping
        Preset name -> field overrides of the config's defaults. ``quick`` and
        ``full`` are required; other names (``extended``, ``large``) are extras.
    cells, run_cell, summarise, render : callable
    preflight : callable, optional
        ``preflight(config)`` checks what needs more than the config (data files,
        teachers, a GPU) before any training; raises ``ValueError``.
    """

    name: str
    description: str
    config: type[StudyConfig]
    presets: Mapping[str, Mapping[str, Any]]
    cells: Callable[[Any], list[dict[str, Any]]]
    run_cell: Callable[[dict[str, Any]], dict[str, Any]]
    summarise: Callable[[Any, list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]
    render: Callable[[Any, dict[str, Any]], dict[str, str]]
    preflight: Callable[[Any], None] | None = None
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [p for p in REQUIRED_PRESETS if p not in self.presets]
        if missing:
            raise ValueError(f"study {self.name!r} lacks the preset(s) {missing}")

    def preset(self, name: str, overrides: tuple[str, ...] | list[str] = ()) -> StudyConfig:
        """The config of preset ``name`` with ``key=value`` overrides applied."""
        if name not in self.presets:
            raise ValueError(
                f"--preset must be one of {', '.join(self.presets)} for study {self.name!r}, "
                f"got {name!r}"
            )
        config = self.config(**dict(self.presets[name]))
        return apply_overrides(config, list(overrides))


def check_summary(study: str, summary: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``summary`` carries the contract's verdicts and convergence."""
    verdicts = summary.get("verdicts")
    if not isinstance(verdicts, list):
        raise ValueError(f"{study}: summarise() must return a 'verdicts' list")
    for v in verdicts:
        lacking = [k for k in VERDICT_KEYS if k not in v]
        if lacking:
            raise ValueError(f"{study}: verdict {v!r} lacks {lacking}")
        if v["verdict"] not in ("win", "loss", "tie"):
            raise ValueError(f"{study}: verdict must be win, loss or tie, got {v['verdict']!r}")
    conv = summary.get("convergence")
    if not isinstance(conv, dict) or not {"trainings", "converged", "criterion"} <= conv.keys():
        raise ValueError(
            f"{study}: summarise() must return 'convergence' = {{trainings, converged, criterion}}"
        )
    for reserved in ("cells", "timing", "sweep", "study", "preset", "name", "config"):
        if reserved in summary:
            raise ValueError(f"{study}: summary key {reserved!r} is reserved for the runner")
