"""Regression study of the Sobolev Training paper (Czarnecki et al. 2017, Sec. 5.1).

Regular (values only) vs Sobolev (values and exact gradients) training of a
2-256-256-1 ReLU MLP on classical optimisation functions, with 20 and 100 uniform
training points; optionally a third method trained on gradients estimated from the
values alone (Kissel & Diepold 2019).

Command line: ``sobolev run regression --preset full --jobs 2`` (the fair-comparison
protocol with the SMT peers); ``--preset extended`` runs every 2-D function of
:mod:`sobolev_lab.theory.functions` plus the ``d`` = 4 and 8 versions of the
dimension-generic ones; ``--preset fixed`` is the first version's fixed-budget run;
``sobolev report regression`` rewrites the tables of stored results from their per-seed
numbers without training.

Modules: :mod:`.config` (fields and presets), :mod:`.study` (data, normalisation,
training and metrics of one cell), :mod:`.aggregate` (summary rows, convergence,
paired comparisons and verdicts), :mod:`.tables` (CSV and Markdown). Importing this
package stays light: the training code loads in the worker.
"""

from __future__ import annotations

from typing import Any

from sobolev_lab.experiments.regression.config import PRESETS, RegressionConfig, parse_function
from sobolev_lab.study import Study

__all__ = ["STUDY", "cells", "run_cell"]

_SHARED = (
    "methods",
    "lr",
    "schedule",
    "hidden",
    "activation",
    "dtype",
    "normalise",
    "n_test",
    "kink_margin",
    "n_neighbors",
)


_PROTOCOL_SHARED = (
    "methods", "peers", "hidden", "activations", "lrs", "regular_weight_decays", "folds", "steps",
    "eval_every", "patience", "schedule", "dtype", "normalise", "n_test", "kink_margin",
    "n_neighbors", "genn_iterations",
)  # fmt: skip


def cells(config: RegressionConfig) -> list[dict[str, Any]]:
    """One cell per function, training-set size and step budget (x2 with the check).

    The dicts are those of the pre-runner study (same keys and values), so their hashes
    and stored cell files stay valid. With ``protocol`` one cell per function and size
    (version 2, :mod:`.protocol_cell`).
    """
    cfg = config.to_dict()
    seeds = list(range(cfg["first_seed"], cfg["first_seed"] + cfg["seeds"]))
    if cfg["protocol"]:
        shared = {k: cfg[k] for k in _PROTOCOL_SHARED}
        return [
            {
                "study": "regression",
                "version": 2,
                "function": name,
                "dim": dim,
                "n_train": n,
                "seeds": seeds,
                "weights": cfg["derivative_weights"],
                **shared,
            }
            for name, dim in map(parse_function, cfg["functions"])
            for n in cfg["n_train"]
        ]
    budgets = [cfg["steps"], 2 * cfg["steps"]] if cfg["convergence_check"] else [cfg["steps"]]
    shared = {k: cfg[k] for k in _SHARED}
    out = []
    for spec in cfg["functions"]:
        name, dim = parse_function(spec)
        for n in cfg["n_train"]:
            for steps in budgets:
                grid = spec in cfg["grid_functions"] and steps == cfg["steps"]
                out.append(
                    {
                        "study": "regression",
                        "version": 1,
                        "function": name,
                        "dim": dim,
                        "n_train": n,
                        "seeds": seeds,
                        "steps": steps,
                        "grid_size": cfg["grid_size"] if grid else 0,
                        **shared,
                    }
                )
    return out


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one cell (:func:`sobolev_lab.experiments.regression.study.run_cell`)."""
    if cell.get("version") == 2:
        from sobolev_lab.experiments.regression.protocol_cell import run_cell as train
    else:
        from sobolev_lab.experiments.regression.study import run_cell as train

    return train(cell)


def summarise(config: RegressionConfig, cells_: list[dict], payloads: list[dict]) -> dict:
    """See :func:`sobolev_lab.experiments.regression.aggregate.summarise`."""
    if config.protocol:
        from sobolev_lab.experiments.regression.protocol_summary import summarise as agg
    else:
        from sobolev_lab.experiments.regression.aggregate import summarise as agg

    return agg(config, cells_, payloads)


def render(config: RegressionConfig, summary: dict) -> dict[str, str]:
    """See :func:`sobolev_lab.experiments.regression.tables.render`."""
    if config.protocol:
        from sobolev_lab.experiments.regression.protocol_summary import render as tables
    else:
        from sobolev_lab.experiments.regression.tables import render as tables

    return tables(config, summary)


STUDY = Study(
    name="regression",
    description="regular vs Sobolev training on classical optimisation functions (Sec. 5.1)",
    config=RegressionConfig,
    presets=PRESETS,
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
