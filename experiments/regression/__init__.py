"""Regression study of the Sobolev Training paper (Czarnecki et al. 2017, Sec. 5.1).

Regular (values only) vs Sobolev (values and exact gradients) training of a
2-256-256-1 ReLU MLP on classical optimisation functions, with 20 and 100 uniform
training points; optionally a third method trained on gradients estimated from the
values alone (Kissel & Diepold 2019).

>>> from experiments.regression import run
>>> result = run("quick", out_dir="/tmp/regression")      # doctest: +SKIP
>>> result["rows"][0]["test_mse_values_mean"]               # doctest: +SKIP

Command line: ``sobolev regression --preset paper --jobs 2``; ``--preset extended`` runs
every 2-D function of :mod:`sobolev_lab.theory.functions` plus the ``d`` = 4 and 8 versions of the
dimension-generic ones; ``--report-only`` rewrites the CSV and Markdown tables of a stored
result from its per-seed numbers without training. See
:mod:`sobolev_lab.experiments.regression.config` for the configuration keys and
:mod:`sobolev_lab.experiments.regression.study` for data, normalisation and kink handling.
"""

from sobolev_lab.experiments.regression.config import METHODS, preset, validate
from sobolev_lab.experiments.regression.driver import regenerate, run

__all__ = ["METHODS", "preset", "regenerate", "run", "validate"]
