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

    sobolev run synthetic_gradients --preset quick      # results/synthetic_gradients/quick/
    sobolev run synthetic_gradients --preset full --jobs 2
    sobolev run synthetic_gradients --preset full-mnist --set data_dir=~/data/mnist \\
        --set device=cuda --set amp=true

The config and presets are in :mod:`.config`, the training of one cell in
:mod:`.train` (gradient scaling, bootstrapped targets), the summary, verdicts and
tables in :mod:`.study`, the MNIST/CIFAR-10 file layout in :mod:`.data`.
"""

from __future__ import annotations

from sobolev_lab.experiments.synthetic_gradients.config import PRESETS, SGConfig, cells
from sobolev_lab.experiments.synthetic_gradients.study import preflight, render, summarise
from sobolev_lab.experiments.synthetic_gradients.train import run_cell
from sobolev_lab.study import Study

__all__ = ["STUDY", "SGConfig", "run_cell"]

STUDY = Study(
    name="synthetic_gradients",
    description="decoupled training: synthetic gradients (DNI) and Sobolev-trained critics",
    config=SGConfig,
    presets=PRESETS,
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
    preflight=preflight,
)
