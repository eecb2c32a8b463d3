"""Prediction, fitted scaling and pickling of :class:`sobolev.sklearn.SobolevRegressor`.

Kept apart from the estimator's ``fit``: everything here reads only the fitted state
(``model_``, ``standardizer_``, ``_y_1d``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.func import functional_call

from sobolev.derivatives import value_and_jacobian
from sobolev.models import MLP

# Predictions are computed in chunks so that wide networks on many rows stay in memory.
_CHUNK = 8192


class FittedNetworkMixin:
    """``predict``, ``predict_gradient``, fitted scaling and pickling of the network."""

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
            out = [f(torch.from_numpy(c)).cpu().numpy() for c in _chunks(xs)]
        Y = self.standardizer_.inverse(v=np.concatenate(out))[1]
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
            out.append(J.detach().cpu().numpy())
        G = self.standardizer_.inverse(dv=np.concatenate(out))[2]
        return G[:, 0, :] if self._y_1d else G

    # Fitted scaling, read from the standardizer (the names of earlier versions).
    @property
    def x_mean_(self) -> np.ndarray:
        return self.standardizer_.x_shift

    @property
    def x_scale_(self) -> np.ndarray:
        return self.standardizer_.x_scale

    @property
    def y_mean_(self) -> np.ndarray:
        return self.standardizer_.y_shift

    @property
    def y_scale_(self) -> np.ndarray:
        return self.standardizer_.y_scale

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
    def _record(self, history: dict, per_epoch: int, baseline: float | None) -> None:
        """Fitted attributes from :func:`sobolev.fit`'s history."""
        self.history_ = history
        total = np.asarray(history["total"], dtype=np.float64)
        self.t_ = len(total)
        self.n_iter_ = math.ceil(self.t_ / per_epoch)
        self.loss_curve_ = [
            float(total[i : i + per_epoch].mean()) for i in range(0, self.t_, per_epoch)
        ]
        self.loss_ = float(total[-1])
        self.validation_scores_ = self.best_validation_score_ = None
        self.best_loss_ = min(self.loss_curve_)
        if baseline is not None:
            # The held-out metric relative to that of the held-out mean (an R^2).
            self.validation_scores_ = [1.0 - v / baseline for v in history["val"]]
            self.best_validation_score_ = 1.0 - history["best_val"] / baseline
            self.best_loss_ = None

    def _standardised_inputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.standardizer_.transform(x=X)[0]

    def _network64(self):
        """The trained network evaluated in float64 (weights upcast exactly)."""
        params = {k: v.detach().to(torch.float64) for k, v in self.model_.state_dict().items()}
        model = self.model_

        def f(x: torch.Tensor) -> torch.Tensor:
            return functional_call(model, params, (x.to(next(iter(params.values())).device),))

        return f


def _chunks(a: np.ndarray):
    for start in range(0, a.shape[0], _CHUNK):
        yield a[start : start + _CHUNK]
