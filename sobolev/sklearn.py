"""A scikit-learn regressor trained by Sobolev training.

:class:`SobolevRegressor` fits an :class:`sobolev.MLP` to target values and, when
available, the targets' input derivatives, with the library's :class:`sobolev.SobolevLoss`
and :func:`sobolev.fit`. It follows the scikit-learn estimator API, so it works in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pickles.

Derivative data comes in three ways (``derivatives=``):

* ``"given"``: ``fit(X, y, dy=...)`` with ``dy`` the exact derivatives, shape (N, d)
  for 1-D ``y`` or (N, m, d) for ``y`` of shape (N, m);
* ``"estimate"``: no derivative data; gradients at the training points are estimated
  from each point's nearest neighbours by least squares (Kissel & Diepold 2019, see
  :func:`sobolev.estimate.estimate_gradients`) and trained on;
* ``"none"``: plain regression on values (order 0).

Inputs and targets are standardised inside: with ``x' = (x - mu_x) / s_x`` and
``y' = (y - mu_y) / s_y`` the derivatives become ``dy'/dx' = dy/dx * s_x / s_y`` per
entry (second derivatives ``* s_xa s_xb / s_y``); predictions and predicted
gradients are mapped back to the original units.

Example
-------
>>> import numpy as np
>>> from sobolev.sklearn import SobolevRegressor
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-3, 3, size=(50, 1))
>>> reg = SobolevRegressor(hidden=(32, 32), max_steps=300, lr=1e-2, random_state=0)
>>> reg = reg.fit(X, np.sin(X[:, 0]), dy=np.cos(X))
>>> reg.predict(X[:2]).shape, reg.predict_gradient(X[:2]).shape
((2,), (2, 1))

In a ``Pipeline``, ``dy`` reaches the regressor unchanged (``pipe.fit(X, y,
reg__dy=dy)``) while earlier steps change ``X``: put no transformer that changes the
inputs in front of it when giving derivatives (scaling is done inside), or use
``derivatives="estimate"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch.func import functional_call

from sobolev.derivatives import value_and_jacobian
from sobolev.estimate import default_n_neighbors, estimate_gradients
from sobolev.fit import fit as sobolev_fit
from sobolev.loss import SobolevLoss
from sobolev.models import ACTIVATIONS, MLP
from sobolev.target import Target

__all__ = ["SobolevRegressor"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_DERIVATIVES = ("given", "estimate", "none")
# Predictions are computed in chunks so that wide networks on many rows stay in memory.
_CHUNK = 8192


class SobolevRegressor(RegressorMixin, BaseEstimator):
    """Multi-layer perceptron regressor fitted to values and input derivatives.

    Parameters
    ----------
    hidden : sequence of int or int, default=(256, 256)
        Hidden layer widths of the :class:`sobolev.MLP` (``()`` for a linear model).
    activation : str, default="relu"
        One of ``sobolev.models.ACTIVATIONS``; order 2 needs a smooth one.
    order : {0, 1, 2}, default=1
        Highest derivative order matched. Order 2 needs ``derivatives="given"`` and
        ``d2y``. Ignored (taken as 0) when ``derivatives="none"``.
    weights : sequence of float, "auto" or None, default=None
        Per-order loss weights ``(w_0, ..., w_order)`` on the standardised scale, as in
        :class:`sobolev.SobolevLoss`; None is all ones. Unused at order 0.
    derivatives : {"given", "estimate", "none"}, default="given"
        Where the derivative targets come from (see the module docstring). ``dy`` is
        validated whenever it is passed but used only with ``"given"``, so one set of
        fit parameters serves a grid search over this parameter.
    n_neighbors : int, optional
        Neighbours per point for ``derivatives="estimate"``, found in the standardised
        inputs; default ``min(2 d + 1, N - 1)``; at most ``N - 1``.
    max_steps : int, default=1000
        Adam steps.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, optional
        Minibatch size; None trains on the full batch every step.
    schedule : {"constant", "cosine"}, default="constant"
        Learning-rate schedule of :func:`sobolev.fit`.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network during training. Predictions are always evaluated in
        float64 from the trained weights, so they do not depend on how rows are batched.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the minibatch order. Same seed, same data: the
        same fitted model on CPU.
    verbose : bool, default=False
        Show a progress bar while fitting (on a terminal).

    Attributes
    ----------
    model_ : sobolev.MLP
        The trained network, acting on standardised inputs and outputs.
    n_features_in_ : int
        d.
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_outputs_ : int
        m.
    x_mean_, x_scale_ : ndarray, shape (d,)
        Input standardisation (``x_scale_`` is 1 for constant features).
    y_mean_, y_scale_ : ndarray, shape (m,)
        Target standardisation (``y_scale_`` is 1 for constant targets).
    order_ : int
        The derivative order actually trained (0 with ``derivatives="none"``).
    n_neighbors_ : int or None
        Neighbours used by ``derivatives="estimate"``.
    estimated_gradients_ : ndarray, shape (N, m, d), or None
        The estimated training gradients, in original units (``"estimate"`` only).
    history_ : dict of str to list of float
        Per-step losses from :func:`sobolev.fit` on the standardised scale.
    loss_ : float
        Final total training loss on the standardised scale.
    """

    def __init__(
        self,
        hidden: Sequence[int] | int = (256, 256),
        activation: str = "relu",
        order: int = 1,
        weights: Sequence[float] | Literal["auto"] | None = None,
        derivatives: Literal["given", "estimate", "none"] = "given",
        n_neighbors: int | None = None,
        max_steps: int = 1000,
        lr: float = 1e-3,
        batch_size: int | None = None,
        schedule: Literal["constant", "cosine"] = "constant",
        dtype: Literal["float32", "float64"] = "float32",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.order = order
        self.weights = weights
        self.derivatives = derivatives
        self.n_neighbors = n_neighbors
        self.max_steps = max_steps
        self.lr = lr
        self.batch_size = batch_size
        self.schedule = schedule
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- fitting ------------------------------------------------------------------
    def fit(self, X: Any, y: Any, dy: Any = None, d2y: Any = None) -> SobolevRegressor:
        """Fit the network to ``y`` and, depending on ``derivatives``, to gradients.

        Parameters
        ----------
        X : array-like, shape (N, d)
        y : array-like, shape (N,) or (N, m)
        dy : array-like, shape (N, d) for 1-D ``y`` or (N, m, d), optional
            Exact first derivatives ``dy[i, k, j] = d y_k / d x_j`` at ``X[i]``;
            required by ``derivatives="given"`` with ``order >= 1``.
        d2y : array-like, shape (N, d, d) for 1-D ``y`` or (N, m, d, d), optional
            Exact second derivatives; required by ``order=2``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On invalid parameters, non-finite or mis-shaped ``X``, ``y``, ``dy``,
            ``d2y``, or missing derivative data; always before any training.
        """
        hidden, order = self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_1d = y.ndim == 1
        Y = y[:, None] if self._y_1d else y
        n, d = X.shape
        m = Y.shape[1]
        dy = self._check_derivative(dy, "dy", n, m, d, order=1)
        d2y = self._check_derivative(d2y, "d2y", n, m, d, order=2)
        if self.derivatives == "given" and order >= 1 and dy is None:
            raise ValueError(
                'derivatives="given" needs the derivatives dy in fit(X, y, dy=...); pass '
                'them, or set derivatives="estimate" (nearest-neighbour estimates) or '
                'derivatives="none" (plain regression)'
            )
        if order == 2 and d2y is None:
            raise ValueError("order=2 needs second derivatives d2y in fit(X, y, dy=..., d2y=...)")
        if self.derivatives == "estimate" and n < 2:
            raise ValueError(
                f'derivatives="estimate" needs at least 2 samples to find neighbours, got '
                f"n_samples = {n} (1 sample)"
            )
        if self.n_neighbors is not None and self.derivatives == "estimate":
            if not self.n_neighbors <= n - 1:
                raise ValueError(
                    f"n_neighbors must be at most N - 1 = {n - 1} for {n} training samples, "
                    f"got {self.n_neighbors}"
                )

        self.x_mean_, self.x_scale_ = _mean_and_scale(X)
        self.y_mean_, self.y_scale_ = _mean_and_scale(Y)
        self.n_outputs_ = m
        self.order_ = order
        xs = (X - self.x_mean_) / self.x_scale_
        ys = (Y - self.y_mean_) / self.y_scale_
        # Derivatives transform with the chain rule: dy'/dx' = dy/dx * s_x / s_y.
        ratio = self.x_scale_[None, None, :] / self.y_scale_[None, :, None]  # (1, m, d)
        dys = d2ys = None
        self.n_neighbors_ = None
        self.estimated_gradients_ = None
        if order >= 1 and self.derivatives == "given":
            dys = dy * ratio
            if order == 2:
                d2ys = d2y * ratio[..., None] * self.x_scale_[None, None, None, :]
        elif order >= 1:  # estimate, in standardised inputs so that distances mix units fairly
            self.n_neighbors_ = self.n_neighbors
            dys = estimate_gradients(xs, ys, n_neighbors=self.n_neighbors)
            if self.n_neighbors is None:
                self.n_neighbors_ = default_n_neighbors(n, d)
            self.estimated_gradients_ = dys / ratio

        rng = check_random_state(self.random_state)
        init_seed, fit_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        dtype = _DTYPES[self.dtype]
        model = MLP(d, m, hidden, self.activation, seed=init_seed, dtype=dtype)
        target = Target.from_arrays(
            torch.as_tensor(ys, dtype=dtype),
            None if dys is None else torch.as_tensor(dys, dtype=dtype),
            None if d2ys is None else torch.as_tensor(d2ys, dtype=dtype),
        )
        loss = SobolevLoss(order=order, weights=self.weights if order >= 1 else None)
        self.history_ = sobolev_fit(
            model,
            torch.as_tensor(xs, dtype=dtype),
            target,
            loss=loss,
            steps=self.max_steps,
            lr=float(self.lr),
            batch_size=self.batch_size,
            seed=fit_seed,
            progress=bool(self.verbose),
            schedule=self.schedule,
        )
        self.loss_ = self.history_["total"][-1]
        self.model_ = model.eval()
        return self

    # -- prediction ---------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Predicted values.

        Parameters
        ----------
        X : array-like, shape (N, d)

        Returns
        -------
        ndarray, shape (N,) if ``y`` was 1-D in fit, else (N, m)
        """
        xs = self._standardised_inputs(X)
        f = self._network64()
        with torch.no_grad():
            out = [f(torch.from_numpy(c)).numpy() for c in _chunks(xs)]
        Y = np.concatenate(out) * self.y_scale_ + self.y_mean_
        return Y[:, 0] if self._y_1d else Y

    def predict_gradient(self, X: Any) -> np.ndarray:
        """Predicted input derivatives of the outputs.

        Parameters
        ----------
        X : array-like, shape (N, d)

        Returns
        -------
        ndarray
            Shape (N, d) if ``y`` was 1-D in fit, else (N, m, d) with
            ``[i, k, j] = d y_k / d x_j`` at ``X[i]``.
        """
        xs = self._standardised_inputs(X)
        f = self._network64()
        out = []
        for c in _chunks(xs):
            _, J = value_and_jacobian(f, torch.from_numpy(c), create_graph=False)
            out.append(J.detach().numpy())
        # Undo the chain rule of fit: dy/dx = dy'/dx' * s_y / s_x.
        G = np.concatenate(out) * (self.y_scale_[None, :, None] / self.x_scale_[None, None, :])
        return G[:, 0, :] if self._y_1d else G

    # -- pickling: the network travels as plain arrays (its state_dict) -----------
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state["_model_arrays"] = {
                k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()
            }
            state["_model_spec"] = {
                "in_dim": model.in_dim,
                "out_dim": model.out_dim,
                "hidden": tuple(model.hidden),
                "activation": model.activation,
            }
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        arrays = state.pop("_model_arrays", None)
        spec = state.pop("_model_spec", None)
        super().__setstate__(state)
        if arrays is not None:
            dtype = torch.from_numpy(next(iter(arrays.values()))).dtype
            model = MLP(**spec, dtype=dtype)
            model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
            self.model_ = model.eval()

    # -- internals ----------------------------------------------------------------
    def _check_params(self) -> tuple[tuple[int, ...], int]:
        hidden = (self.hidden,) if isinstance(self.hidden, int | np.integer) else self.hidden
        try:
            hidden = tuple(int(h) if isinstance(h, np.integer) else h for h in hidden)
        except TypeError:
            raise ValueError(
                f"hidden must be a sequence of positive integers, got {self.hidden!r}"
            ) from None
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive integers, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.derivatives not in _DERIVATIVES:
            raise ValueError(f"derivatives must be one of {_DERIVATIVES}, got {self.derivatives!r}")
        if isinstance(self.order, bool) or self.order not in (0, 1, 2):
            raise ValueError(f"order must be 0, 1 or 2, got {self.order!r}")
        order = 0 if self.derivatives == "none" else int(self.order)
        if order == 2 and self.derivatives != "given":
            raise ValueError(
                'order=2 needs derivatives="given" (second derivatives are not estimated)'
            )
        if order >= 1:
            # SobolevLoss validates the weights' values and length.
            SobolevLoss(order=order, weights=self.weights)
        _check_int(self.max_steps, "max_steps", 1)
        _check_int(self.batch_size, "batch_size", 1, allow_none=True)
        _check_int(self.n_neighbors, "n_neighbors", 1, allow_none=True)
        lr = self.lr
        if isinstance(lr, bool) or not isinstance(lr, Real) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {lr!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f'schedule must be "constant" or "cosine", got {self.schedule!r}')
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {tuple(_DTYPES)}, got {self.dtype!r}")
        return hidden, order

    @staticmethod
    def _check_derivative(value: Any, name: str, n: int, m: int, d: int, order: int):
        """Validate ``dy`` (order 1) or ``d2y`` (order 2) like X; return (N, m, d[, d])."""
        if value is None:
            return None
        arr = check_array(
            value,
            dtype=np.float64,
            ensure_2d=False,
            allow_nd=True,
            ensure_min_samples=0,
            ensure_min_features=0,
            input_name=name,
        )
        tail = (d,) * order
        if arr.shape == (n, m, *tail):
            return arr
        if m == 1 and arr.shape == (n, *tail):
            return arr[:, None]
        raise ValueError(
            f"{name} must have shape {(n, m, *tail)} (N, m{', d' * order})"
            + (f" or {(n, *tail)}" if m == 1 else "")
            + f" to match X of shape {(n, d)} and y with m = {m} output(s), got shape {arr.shape}"
        )

    def _standardised_inputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return (X - self.x_mean_) / self.x_scale_

    def _network64(self):
        """The trained network evaluated in float64 (weights upcast exactly)."""
        params = {k: v.detach().to(torch.float64) for k, v in self.model_.state_dict().items()}
        model = self.model_

        def f(x: torch.Tensor) -> torch.Tensor:
            return functional_call(model, params, (x,))

        return f


def _mean_and_scale(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations, with scale 1 for constant columns."""
    mean = A.mean(axis=0)
    scale = A.std(axis=0)
    # A column constant up to rounding has no scale to divide by.
    tiny = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(tiny, 1.0, scale)


def _check_int(value: Any, name: str, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}, got {value!r}")


def _chunks(a: np.ndarray):
    for start in range(0, a.shape[0], _CHUNK):
        yield a[start : start + _CHUNK]
