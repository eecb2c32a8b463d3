"""Synthetic gradients with Sobolev-trained critics (Sobolev Training, section 3.3).

A network is cut into stages; at every cut a module lets the stage below update
from a *predicted* gradient without waiting for the backward pass of the stages
above (update-decoupled, as in Decoupled Neural Interfaces). Five methods share the
architecture, data, optimiser and seeds:

``backprop``  end-to-end backpropagation (upper reference);
``noprop``    lower stages get no learning signal (lower reference);
``sg``        DNI: the module predicts dL/dh and is regressed onto the gradient
              arriving from above (bootstrapped below the highest cut);
``critic``    a scalar critic c(h, y); the synthetic gradient is dc/dh; trained on
              the gradient only;
``sobolev``   the same critic trained with :class:`sobolev.SobolevLoss` (order 1) on
              the loss value and its gradient.

Quick start::

    from sobolev_lab.experiments.synthetic_gradients import run
    result = run({"dataset": "digits", "preset": "quick"})
    print(result["summary"])

or ``sobolev sg --preset quick``. See :mod:`.train` for the gradient scaling and the
bootstrapped targets, :mod:`.data` for the MNIST/CIFAR-10 file layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sobolev_lab.experiments.synthetic_gradients.config import (
    CELL_DEFAULTS,
    METHODS,
    PRESETS,
    study_config,
    validate_cell,
)
from sobolev_lab.experiments.synthetic_gradients.train import run_cell

__all__ = [
    "CELL_DEFAULTS",
    "METHODS",
    "PRESETS",
    "run",
    "run_cell",
    "study_config",
    "validate_cell",
]

_STUDY_KEYS = ("dataset", "preset", "methods", "modules", "seeds")


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) a study and write its outputs; return the payload.

    Parameters
    ----------
    config : dict
        ``dataset`` (default "digits"), ``preset`` ("quick"), ``methods``, ``modules``,
        ``seeds``, ``out`` (default "results/sg"), ``n_jobs`` (1), ``progress`` (False),
        and any cell hyper-parameter of :data:`CELL_DEFAULTS` as an override.

    Returns
    -------
    dict
        ``summary`` (one row per method and number of modules), ``curves``,
        ``cells``, ``paths`` (the files written), ``wall_time_s``.
    """
    from sobolev_lab.experiments.synthetic_gradients.study import run_study

    config = dict(config)
    out = config.pop("out", "results/sg")
    n_jobs = config.pop("n_jobs", 1)
    progress = config.pop("progress", False)
    kw = {k: config.pop(k) for k in _STUDY_KEYS if k in config}
    study = study_config(kw.pop("dataset", "digits"), **kw, **config)
    payload, paths = run_study(study, Path(out), n_jobs=n_jobs, progress=progress)
    return {**payload, "paths": {k: str(v) for k, v in paths.items()}}
