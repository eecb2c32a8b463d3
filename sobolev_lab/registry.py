"""Every study and tool of the ``sobolev`` command, by import path (loaded on demand).

Studies follow the Study contract (:mod:`sobolev_lab.study`); each path names a
module attribute holding a :class:`~sobolev_lab.study.Study`. Tools are other
subcommands: ``register(subparsers)`` adds one sub-parser whose ``func`` runs it.
"""

from __future__ import annotations

import importlib

from sobolev_lab.study import Study

__all__ = ["STUDIES", "TOOLS", "load_study"]

STUDIES: dict[str, str] = {
    "regression": "sobolev_lab.experiments.regression:STUDY",
    "universal": "sobolev_lab.approx.universal:STUDY",
    "samples": "sobolev_lab.approx.sample_complexity:STUDY",
    "theorems": "sobolev_lab.approx.theorems:STUDY",
    "distillation": "sobolev_lab.experiments.distillation:STUDY",
    "synthetic_gradients": "sobolev_lab.experiments.synthetic_gradients:STUDY",
    "differential_ml": "sobolev_lab.experiments.differential_ml:STUDY",
}

TOOLS: dict[str, str] = {
    "demo": "sobolev_lab.demo:register",
    "figures": "sobolev_lab.paper_figs.cli:register",
    "reproduce": "sobolev_lab.paper_figs.reproduce:register",
    "theory": "sobolev_lab.theory.cli:register",
    "teachers": "sobolev_lab.experiments.distillation.cli:register_teachers",
}


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def load_study(name: str) -> Study:
    """The :class:`Study` registered as ``name``.

    Raises
    ------
    ValueError
        ``name`` is not a registered study.
    """
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; studies: {', '.join(STUDIES)}")
    study = _load(STUDIES[name])
    if not isinstance(study, Study) or study.name != name:
        raise TypeError(f"{STUDIES[name]} is not the Study {name!r}")
    return study
