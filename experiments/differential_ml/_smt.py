"""SMT peers called directly (``sobolev_lab/peers.py`` was not committed when this study
was written): GENN (gradient-enhanced network), GEKPLS (gradient-enhanced kriging with
partial least squares) and KRG (kriging on values, with a fitted noise variance since
the pathwise values are noisy).

Each ``fit_*`` returns a predictor ``x (n, d) -> (values (n,), deltas (n, d))`` and its
fit time in seconds. SMT is imported inside the functions, so the study imports without
it; ``smt`` is in the ``[peers]`` extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["fit_gekpls", "fit_genn", "fit_krg"]

Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _predictor(model, d: int) -> Predictor:
    def predict(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(model.predict_values(x), dtype=np.float64)[:, 0]
        dy = np.column_stack(
            [np.asarray(model.predict_derivatives(x, j), dtype=np.float64)[:, 0] for j in range(d)]
        )
        return y, dy

    return predict


def fit_genn(
    x: np.ndarray,
    y: np.ndarray,
    dy: np.ndarray,
    *,
    alpha: float,
    lambd: float,
    hidden: tuple[int, ...],
    iterations: int,
    seed: int,
) -> tuple[Predictor, float]:
    """SMT GENN on values and pathwise deltas (``gamma = 1``: derivatives count fully).

    ``alpha`` is its learning rate, ``lambd`` its L2 penalty.
    """
    from smt.surrogate_models import GENN

    model = GENN(
        hidden_layer_sizes=list(hidden),
        num_iterations=iterations,
        alpha=alpha,
        lambd=lambd,
        gamma=1.0,
        is_normalize=True,
        seed=seed,
        print_global=False,
    )
    t0 = time.perf_counter()
    model.load_data(x, y[:, None], dy)
    model.train()
    return _predictor(model, x.shape[1]), time.perf_counter() - t0


def fit_krg(x: np.ndarray, y: np.ndarray) -> tuple[Predictor, float]:
    """SMT KRG on values only, at its defaults (hyperparameters by likelihood)."""
    from smt.surrogate_models import KRG

    model = KRG(print_global=False)
    t0 = time.perf_counter()
    model.set_training_values(x, y[:, None])
    model.train()
    return _predictor(model, x.shape[1]), time.perf_counter() - t0


def fit_gekpls(x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> tuple[Predictor, float]:
    """SMT GEKPLS on values and deltas (one PLS component; ``n (d + 1)`` rows)."""
    from smt.surrogate_models import GEKPLS

    d = x.shape[1]
    model = GEKPLS(n_comp=1, print_global=False)
    t0 = time.perf_counter()
    model.set_training_values(x, y[:, None])
    for j in range(d):
        model.set_training_derivatives(x, dy[:, j : j + 1], j)
    model.train()
    return _predictor(model, d), time.perf_counter() - t0
