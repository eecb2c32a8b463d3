"""Regression study of the Sobolev Training paper (Czarnecki et al. 2017, Sec. 5.1).

Regular (values only) vs Sobolev (values and exact gradients) training of a
2-256-256-1 ReLU MLP on classical optimisation functions, with 20 and 100 uniform
training points; optionally a third method trained on gradients estimated from the
values alone (Kissel & Diepold 2019).

>>> from experiments.regression import run
>>> result = run("quick", out_dir="/tmp/regression")      # doctest: +SKIP
>>> result["rows"][0]["test_mse_values_mean"]               # doctest: +SKIP

Command line: ``sobolev regression --preset paper --jobs 2``. See
:mod:`experiments.regression.config` for the configuration keys and
:mod:`experiments.regression.study` for data, normalisation and kink handling.
"""

from experiments.regression.config import METHODS, preset, validate
from experiments.regression.driver import run

__all__ = ["METHODS", "preset", "run", "validate"]
