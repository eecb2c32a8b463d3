"""Synthetic gradients with Sobolev-trained critics (Sobolev Training, section 3.3).

A network is cut into stages; at every cut a module lets the stage below update
from a *predicted* gradient without waiting for the backward pass of the stages
above (update-decoupled, as in Decoupled Neural Interfaces). Six methods share the
architecture, data, optimiser and seeds:

``backprop``         end-to-end backpropagation (upper reference);
``noprop``           lower stages get no learning signal (lower reference);
``dni``              DNI: the module predicts dL/dh and is regressed onto the gradient
                     arriving from above (bootstrapped below the highest cut);
``value_critic``     the paper's Critic: a scalar critic c(h, y) trained on the loss
                     value; the synthetic gradient is dc/dh;
``gradient_critic``  the same critic trained on the gradient only;
``sobolev_critic``   the critic trained on value and gradient (Sobolev), with weights
                     chosen on validation, optionally normalised by warm-up scales.

Every method gets the same number of trial configurations, chosen on a validation
split; tasks are digits, MNIST-1D (MLP and 1-D CNN), MNIST and CIFAR-10 (local files).

Quick start::

    sobolev run synthetic_gradients --preset quick      # results/synthetic_gradients/quick/
    sobolev run synthetic_gradients --preset full --jobs 2
    sobolev run synthetic_gradients --preset full-cifar10 --set data_dir=~/data \\
        --set device=cuda:0 --set amp=true

The config, presets and trial grids are in :mod:`.config`, the training of one cell
and its diagnostics in :mod:`.train`, the selection, summary, verdicts and tables in
:mod:`.study`, the data (MNIST-1D offline, MNIST/CIFAR-10 file layouts) in :mod:`.data`.
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
