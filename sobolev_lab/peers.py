"""Peers a user would pick instead of a Sobolev-trained network, behind one interface.

Every adapter has ``fit(X, y, dy=None) -> self``, ``predict(X) -> (N,)``,
``predict_gradients(X) -> (N, d)`` and, after fitting, ``fit_seconds_`` (wall time of
the fit). Scalar outputs only (the regression study's setting).

=============  =========================================  ==========================
adapter        model                                      uses
=============  =========================================  ==========================
``KRG``        SMT kriging on values; hyperparameters by  values
               its own likelihood maximisation
``GEKPLS``     SMT gradient-enhanced kriging with PLS     values and gradients
               directions; likelihood as ``KRG``
``GENN``       SMT gradient-enhanced MLP (numpy ``jenn``)  values and gradients
``MLP``        scikit-learn ``MLPRegressor``              values
``Sobolev``    this project's ``SobolevRegressor``        values (and gradients)
=============  =========================================  ==========================

Cost limits. Kriging builds a dense correlation matrix over its training *rows*:
``n`` for ``KRG`` and ``n * (1 + extra_points)`` for ``GEKPLS`` (which turns each
gradient into ``extra_points`` first-order Taylor pseudo-points; with the default
``extra_points = d`` that is ``n * (d + 1)`` rows, the size of full gradient-enhanced
kriging). Memory grows with rows² and every likelihood evaluation costs a Cholesky
factorisation, rows³, times many optimiser iterations. Fit times measured here (one
BLAS thread on the shared 2-core machine, whose load rose from about 1 for the small
cases to 10-14 for the large ones, which inflates those):

- KRG, d = 2: n = 20, 100, 200, 400, 800 took 1.0, 1.7, 4.2, 85, 223 s.
- GEKPLS, (d, n) -> rows: (2, 20) -> 60 took 1.0 s, (2, 100) -> 300 3.4 s,
  (2, 200) -> 600 8.2 s, (4, 100) -> 500 17 s, (8, 100) -> 900 60 s; (8, 200) ->
  1800 rows had not finished after 9 minutes (load 14-20).

Above a few hundred rows SMT's likelihood also meets ill-conditioned correlation
matrices (failed Cholesky factorisations; counted in ``likelihood_failures_``). The
kriging adapters refuse more than ``max_rows`` rows (default 1000, minutes here) with
a ``ValueError`` before fitting; raise it to probe the crossover deliberately.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from typing import Any

import numpy as np

from sobolev.standardize import Standardizer

__all__ = ["GEKPLS", "GENN", "GENN_GRID", "KRG", "MLP", "PEERS", "Peer", "Sobolev", "cv_scorer"]

#: Candidate axes for tuning GENN with the protocol's equal budget
#: (``sobolev_lab.protocol.grid(**GENN_GRID)``, then ``Budget.subsample``).
GENN_GRID: dict[str, list[Any]] = {
    "alpha": [0.01, 0.05, 0.1],
    "lambd": [0.0, 0.01, 0.1],
    "gamma": [0.1, 1.0, 10.0],
}


def _check_max_rows(value: Any) -> int:
    from sobolev._validation import check_positive_int

    return check_positive_int(value, "max_rows")


class Peer:
    """Common validation and timing of the adapters (subclasses implement ``_fit`` etc.).

    Attributes
    ----------
    uses_gradients : bool
        Whether ``fit`` uses ``dy``.
    fit_seconds_ : float
        Wall time of the last ``fit``.
    n_features_in_ : int
    """

    name = "peer"
    uses_gradients = False
    #: BLAS and OpenMP threads while fitting and predicting. Unlimited, SMT's kriging ran 20-40x
    #: slower on the shared 2-core machine (oversubscribed threads); None leaves BLAS be.
    blas_threads: int | None = 1

    def fit(self, X: Any, y: Any, dy: Any = None) -> Peer:
        """Fit on ``X`` (N, d), ``y`` (N,) and, for gradient-enhanced peers, ``dy`` (N, d)."""
        X, y, dy = self._check_data(X, y, dy)
        if self.uses_gradients and dy is None:
            raise ValueError(f"{self.name} is gradient-enhanced: dy of shape (N, d) is needed")
        self.n_features_in_ = X.shape[1]
        with self._threads():
            t0 = time.perf_counter()
            self._fit(X, y, dy if self.uses_gradients else None)
            self.fit_seconds_ = time.perf_counter() - t0
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape (N,)."""
        X = self._check_x(X)
        with self._threads():
            return self._finite(self._predict(X), "predictions")

    def predict_gradients(self, X: Any) -> np.ndarray:
        """Predicted input gradients, shape (N, d)."""
        X = self._check_x(X)
        with self._threads():
            return self._finite(self._predict_gradients(X), "gradients")

    def _threads(self):
        from threadpoolctl import threadpool_limits

        if self.blas_threads is None:
            return contextlib.nullcontext()
        # threadpoolctl limits only the libraries loaded when the limit is set: scipy's
        # own OpenBLAS, loaded lazily by the first kriging fit, otherwise ran unlimited
        # (15x slower first fits here).
        import scipy.linalg  # noqa: F401

        self._load()
        return threadpool_limits(limits=self.blas_threads)

    def _load(self) -> None:
        """Import the backend (before the thread limit is set, see ``_threads``)."""

    # -- checks ---------------------------------------------------------------------
    @staticmethod
    def _check_data(X: Any, y: Any, dy: Any):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must have shape (N, d) with N >= 2, got {X.shape}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if dy is not None:
            dy = np.asarray(dy, dtype=np.float64)
            if dy.shape != X.shape:
                raise ValueError(f"dy must have shape {X.shape} like X, got {dy.shape}")
        for name, a in (("X", X), ("y", y), ("dy", dy)):
            if a is not None and not np.isfinite(a).all():
                raise ValueError(f"{name} must be finite")
        return X, y, dy

    def _check_x(self, X: Any) -> np.ndarray:
        if not hasattr(self, "fit_seconds_"):
            raise ValueError(f"{self.name} is not fitted; call fit(X, y, dy) first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (N, {self.n_features_in_}), got {X.shape}")
        return X

    def _finite(self, a: np.ndarray, what: str) -> np.ndarray:
        if not np.isfinite(a).all():
            raise FloatingPointError(f"{self.name} returned non-finite {what}")
        return a

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({params})"


class _SMT(Peer):
    """An SMT surrogate: options passed through, silent, scalar output."""

    def __init__(self, **options: Any) -> None:
        self.params = dict(options)

    def _load(self) -> None:
        import smt.surrogate_models  # noqa: F401

    def _make(self, X: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X: np.ndarray, y: np.ndarray, dy: np.ndarray | None) -> None:
        model = self._make(X)
        model.set_training_values(X, y[:, None])
        if dy is not None:
            for i in range(X.shape[1]):
                model.set_training_derivatives(X, dy[:, i : i + 1], i)
        log = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(log):
            # GEKPLS fits PLS to a single gradient column; sklearn warns that its
            # residual is constant after the first component, which is expected.
            warnings.filterwarnings("ignore", message="y residual is constant")
            model.train()
        # SMT prints a failed Cholesky factorisation (an ill-conditioned correlation
        # matrix, common above a few hundred rows) with every eigenvalue; count them.
        self.likelihood_failures_ = log.getvalue().count("exception")
        self.model_ = model

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_values(X)[:, 0]

    def _predict_gradients(self, X: np.ndarray) -> np.ndarray:
        from sobolev_lab._smt_fast import fast_kriging_derivatives

        with fast_kriging_derivatives():
            return np.concatenate(
                [self.model_.predict_derivatives(X, i) for i in range(X.shape[1])], axis=1
            )


class KRG(_SMT):
    """SMT ``KRG``: kriging on values; theta by maximum likelihood (SMT's own optimiser).

    ``likelihood_failures_`` counts the likelihood evaluations whose Cholesky
    factorisation failed (SMT's printout is captured).

    Parameters
    ----------
    max_rows : int
        Refuse training sets of more than this many points (the correlation matrix is
        n x n; see the module docstring).
    **options
        Passed to ``smt.surrogate_models.KRG`` (``poly``, ``corr``, ``theta0``, ...).
    """

    name = "KRG"

    def __init__(self, *, max_rows: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        self.max_rows = _check_max_rows(max_rows)

    def _make(self, X: np.ndarray):
        from smt.surrogate_models import KRG as SMTKRG

        if X.shape[0] > self.max_rows:
            raise ValueError(
                f"KRG on n = {X.shape[0]} points exceeds max_rows = {self.max_rows} (dense "
                "n x n correlation, n^3 per likelihood evaluation); raise max_rows to insist"
            )
        return SMTKRG(print_global=False, **self.params)


class GEKPLS(_SMT):
    """SMT ``GEKPLS``: gradient-enhanced kriging with partial-least-squares directions.

    Parameters
    ----------
    n_comp : int
        PLS components, 2 <= n_comp <= d (SMT needs at least 2, so d >= 2).
    extra_points : int, optional
        Taylor pseudo-points per training point; default ``d`` (``n (d + 1)`` rows).
    max_rows : int
        Refuse more than this many kriging rows, ``n * (1 + extra_points)``.
    **options
        Passed to ``smt.surrogate_models.GEKPLS``.
    """

    name = "GEKPLS"
    uses_gradients = True

    def __init__(
        self, *, n_comp: int = 2, extra_points: int | None = None, max_rows: int = 1000, **options
    ) -> None:
        super().__init__(n_comp=n_comp, extra_points=extra_points, **options)
        self.max_rows = _check_max_rows(max_rows)

    def rows(self, n: int, d: int) -> int:
        """Kriging rows for ``n`` points in ``d`` dimensions."""
        extra = d if self.params["extra_points"] is None else self.params["extra_points"]
        return n * (1 + extra)

    def _make(self, X: np.ndarray):
        from smt.surrogate_models import GEKPLS as SMTGEKPLS

        n, d = X.shape
        opts = dict(self.params)
        if not 2 <= opts["n_comp"] <= d:
            raise ValueError(f"n_comp must be in [2, d = {d}], got {opts['n_comp']}")
        rows = self.rows(n, d)
        if rows > self.max_rows:
            raise ValueError(
                f"GEKPLS on n = {n}, d = {d} builds {rows} kriging rows, over max_rows = "
                f"{self.max_rows} (rows^2 memory, rows^3 per likelihood evaluation); lower "
                "extra_points or raise max_rows to insist"
            )
        opts["extra_points"] = d if opts["extra_points"] is None else opts["extra_points"]
        return SMTGEKPLS(print_global=False, **opts)


class GENN(_SMT):
    """SMT ``GENN``: an MLP fitted to values and (weight ``gamma``) gradients.

    Parameters
    ----------
    seed : int
        GENN's ``seed`` (initial weights).
    **options
        SMT's GENN options; defaults are SMT's (``hidden_layer_sizes=[12, 12]``,
        ``num_iterations=1000``, ``alpha=0.05`` the Adam step, ``lambd=0.01`` the L2
        weight, ``gamma=1.0`` the gradient weight, ``is_normalize=True``). Tune
        ``alpha``, ``lambd``, ``gamma`` with :data:`GENN_GRID`.
    """

    name = "GENN"
    uses_gradients = True

    def __init__(self, *, seed: int = 0, **options: Any) -> None:
        super().__init__(seed=seed, **options)

    def _make(self, X: np.ndarray):
        from smt.surrogate_models import GENN as SMTGENN

        opts = {"is_normalize": True, **self.params}
        if "hidden_layer_sizes" in opts:
            opts["hidden_layer_sizes"] = list(opts["hidden_layer_sizes"])
        return SMTGENN(print_global=False, **opts)


class MLP(Peer):
    """scikit-learn ``MLPRegressor`` on values, in standardised units.

    Gradients are the network's exact input derivatives (a reverse pass through
    ``coefs_``), mapped back through the standardisation.

    Parameters
    ----------
    **params
        Passed to ``sklearn.neural_network.MLPRegressor`` (``hidden_layer_sizes``,
        ``activation`` in relu / tanh / logistic / identity, ``alpha``,
        ``learning_rate_init``, ``max_iter``, ``random_state``, ...).
    """

    name = "MLP"

    def __init__(self, **params: Any) -> None:
        self.params = {"random_state": 0, "max_iter": 2000, **params}

    def _load(self) -> None:
        import sklearn.neural_network  # noqa: F401

    def _fit(self, X: np.ndarray, y: np.ndarray, dy: np.ndarray | None) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        self.scaler_ = Standardizer.fit(X, y)
        u, v, _, _ = self.scaler_.transform(X, y)
        self.model_ = MLPRegressor(**self.params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.model_.fit(u, v)
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        u = self.scaler_.transform(X)[0]
        return self.scaler_.inverse(v=self.model_.predict(u))[1]

    def _predict_gradients(self, X: np.ndarray) -> np.ndarray:
        u = self.scaler_.transform(X)[0]
        act = self.model_.activation
        h, slopes = u, []
        for w, b in zip(self.model_.coefs_[:-1], self.model_.intercepts_[:-1], strict=True):
            a = h @ w + b
            if act == "relu":
                h, s = np.maximum(a, 0), (a > 0).astype(np.float64)
            elif act == "tanh":
                h = np.tanh(a)
                s = 1 - h**2
            elif act == "logistic":
                h = 1 / (1 + np.exp(-a))
                s = h * (1 - h)
            else:
                h, s = a, np.ones_like(a)
            slopes.append(s)
        # Back from the output: d out / d h_L, then through each layer's slope and weights.
        g = np.repeat(self.model_.coefs_[-1].T, u.shape[0], axis=0)
        for w, s in zip(reversed(self.model_.coefs_[:-1]), reversed(slopes), strict=True):
            g = (g * s) @ w.T
        dv = g
        return self.scaler_.inverse(dv=dv)[2]


class Sobolev(Peer):
    """This project's ``sobolev.sklearn.SobolevRegressor`` behind the peer interface.

    Parameters
    ----------
    **params
        ``SobolevRegressor`` parameters; ``derivatives`` "auto" (default) or "given" makes the
        adapter gradient-enhanced, ``"none"`` or ``"estimate"`` values-only.
    """

    name = "Sobolev"

    def __init__(self, **params: Any) -> None:
        self.params = {"random_state": 0, **params}
        self.uses_gradients = self.params.get("derivatives", "auto") in ("auto", "given")

    def _fit(self, X: np.ndarray, y: np.ndarray, dy: np.ndarray | None) -> None:
        from sobolev.sklearn import SobolevRegressor

        self.model_ = SobolevRegressor(**self.params).fit(X, y, dy)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def _predict_gradients(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_gradient(X)


#: Adapter classes by name.
PEERS: dict[str, type[Peer]] = {
    "KRG": KRG,
    "GEKPLS": GEKPLS,
    "GENN": GENN,
    "MLP": MLP,
    "Sobolev": Sobolev,
}


def cv_scorer(make_peer, X: Any, y: Any, dy: Any = None):
    """A scorer for :func:`sobolev_lab.protocol.select` that fits peers on training folds.

    Parameters
    ----------
    make_peer : callable
        ``make_peer(config) -> Peer`` (e.g. ``lambda c: GENN(seed=s, **c)``).
    X, y, dy : arrays, shapes (n, d), (n,), (n, d) or None
        The training set only.

    Returns
    -------
    callable
        ``score(config, train_idx, val_idx) -> float``: the value MSE on ``val_idx`` of
        the peer fitted on ``train_idx``; inf if the fit fails numerically.
    """
    X, y, dy = Peer._check_data(X, y, dy)

    def score(config: dict[str, Any], train_idx: np.ndarray, val_idx: np.ndarray) -> float:
        peer = make_peer(config)
        try:
            peer.fit(X[train_idx], y[train_idx], None if dy is None else dy[train_idx])
            err = float(np.mean((peer.predict(X[val_idx]) - y[val_idx]) ** 2))
        except (FloatingPointError, np.linalg.LinAlgError):
            return math.inf
        return err if math.isfinite(err) else math.inf

    return score
