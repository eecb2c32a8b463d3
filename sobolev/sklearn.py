"""A scikit-learn regressor trained by Sobolev training.

:class:`SobolevRegressor` fits an :class:`sobolev.MLP` to target values and, when
available, the targets' input derivatives, with :class:`sobolev.SobolevLoss` and
:func:`sobolev.fit`. Its parameter names follow scikit-learn's ``MLPRegressor`` where
the concept exists, so it drops into code written for it, and it passes
``sklearn.utils.estimator_checks.check_estimator`` with its defaults.

Derivative data comes in four ways (``derivatives=``):

* ``"auto"`` (default): use ``dy`` when ``fit`` is given it, values only otherwise;
* ``"given"``: ``fit(X, y, dy=...)`` must be given the exact derivatives, shape (N, d)
  for 1-D ``y`` or (N, m, d) for ``y`` of shape (N, m);
* ``"estimate"``: gradients at the training points are estimated from each point's
  nearest neighbours by least squares (Kissel & Diepold 2019, see
  :func:`sobolev.estimate.estimate_gradients`) and trained on;
* ``"none"``: plain regression on values (order 0).

Inputs, targets and derivatives are standardised inside by one
:class:`sobolev.standardize.Standardizer` (weighted by ``sample_weight``), so the
chain rule keeps them consistent; predictions and predicted gradients are mapped back
to the original units. The defaults (softplus 2 x 64; about 2000 Adam steps from
lr 1e-2 with cosine decay; up to 256 samples full batches in float64, beyond them
float32 minibatches of ``max(256, N / 16)``; from 200 to 2047 samples early stopping on
a held-out tenth, scored on values and derivatives, with a patience of 15 evaluations
that grows with the best one; Huge & Savine's per-input derivative weights) were chosen
by ``benchmarks/bench_sklearn.py``; the evidence is in ``benchmarks/README.md``.

Example
-------
>>> import numpy as np
>>> from sobolev.sklearn import SobolevRegressor
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-3, 3, size=(50, 1))
>>> reg = SobolevRegressor(max_iter=300, random_state=0)
>>> reg = reg.fit(X, np.sin(X[:, 0]), dy=np.cos(X))
>>> reg.predict(X[:2]).shape, reg.predict_gradient(X[:2]).shape
((2,), (2, 1))

``partial_fit(X, y, dy=None, sample_weight=None)`` trains one epoch per call at the
constant rate ``learning_rate_init``, keeping the network, standardisation and Adam
state of earlier calls (see :meth:`SobolevRegressor.partial_fit`).

In a ``Pipeline``, ``dy`` reaches the regressor unchanged (``pipe.fit(X, y,
reg__dy=dy)``) while earlier steps change ``X``: put no transformer that changes the
inputs in front of it when giving derivatives (scaling is done inside), or use
``derivatives="estimate"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from torch import nn

from sobolev import _estimator_params as P
from sobolev._estimator_partial import PartialFitMixin
from sobolev._estimator_predict import FittedNetworkMixin
from sobolev.estimate import default_n_neighbors, estimate_gradients
from sobolev.fit import fit as sobolev_fit
from sobolev.loss import SobolevLoss
from sobolev.models import MLP

__all__ = ["SobolevRegressor"]


class SobolevRegressor(RegressorMixin, PartialFitMixin, FittedNetworkMixin, BaseEstimator):
    """Multi-layer perceptron regressor fitted to values and input derivatives.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int or int, default=(64, 64)
        Hidden layer widths of the :class:`sobolev.MLP` (``()`` for a linear model).
    activation : str, default="softplus"
        One of ``sobolev.models.ACTIVATIONS``. Smooth activations fit derivatives far
        better than ReLU; order 2 needs one.
    alpha : float, default=0.0
        L2 penalty, Adam's ``weight_decay`` on all parameters on the standardised
        scale (``MLPRegressor`` penalises weights only, scaled by ``1 / n``).
    batch_size : int or "auto", default="auto"
        Minibatch size. ``"auto"``: the full batch up to 256 samples, else
        ``max(256, ceil(N / 16))`` (about 16 minibatches per epoch).
    shuffle : bool, default=True
        Whether to shuffle the samples in each epoch when using minibatches. False takes
        them in the data's order, the same every epoch (the fit then depends on the
        order of the rows); no effect with full batches.
    learning_rate_init : float, default=1e-2
        Initial Adam learning rate.
    max_iter : int or "auto", default="auto"
        Epochs of ``ceil(N / batch_size)`` optimiser steps each, about one pass over
        the training samples (with ``shuffle`` every pass draws a fresh permutation of
        full minibatches, so the ``N % batch_size`` samples left over sit that pass out
        and an epoch's last step starts the next pass). ``"auto"``: enough epochs for
        about 2000 optimiser steps at any N.
    schedule : {"cosine", "constant", "one_cycle"}, default="cosine"
        Learning rate over the training budget: cosine decay to 0, constant, or the
        one-cycle schedule of Huge & Savine's twin net (peak ``learning_rate_init`` at
        a fifth of the budget, then annealing to ``1e-7`` times it).
    tol : float, default=1e-4
        With early stopping: the relative improvement of the held-out error that
        counts as progress.
    n_iter_no_change : int, default=15
        With early stopping: evaluations without progress before training stops (the
        best evaluation's weights are restored), and at least as many as it took to
        reach the last progress, so a run that keeps improving runs twice as long as
        its best took. Evaluations happen every epoch, or every few epochs so that
        there are at most 100 over the budget. Without early stopping the whole
        budget runs, since the cosine schedule is defined over it.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the samples, score the model on them, stop
        once progress stalls (see ``n_iter_no_change``) and keep the best weights. The
        score is the value MSE, or with derivatives and ``weights="differential"``
        half the value MSE plus half the mean over inputs of ``lambda_j^2`` times the
        derivative MSE (on exact data the derivatives tell a plateau from the end of
        learning). ``"auto"``: only when the held-out part has at least 20 samples
        (N >= 200 at the default fraction) and N < 2048. Fewer cannot rank the
        evaluations; from 2048 samples the whole budget runs, since on noisy labels
        the held-out value error picked worse epochs than the end of the annealed
        schedule (``benchmarks/README.md``).
    validation_fraction : float, default=0.1
        Share of samples held out by ``early_stopping`` (at least one sample).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the validation split and the minibatch order (with
        ``shuffle``). Same seed, same data: the same fitted model on CPU.
    verbose : bool, default=False
        Show a progress bar while fitting (on a terminal).
    warm_start : bool, default=False
        Continue from the previous fit's network and standardisation instead of a
        fresh initialisation (the data must have the same d and m).
    derivatives : {"auto", "given", "estimate", "none"}, default="auto"
        Where the derivative targets come from (module docstring). ``dy`` is validated
        whenever it is passed.
    order : {0, 1, 2}, default=1
        Highest derivative order matched when derivatives are used. Order 2 needs
        ``d2y``.
    weights : sequence of float, "auto", "differential" or None, default="differential"
        Per-order loss weights on the standardised scale. None is all ones; a
        sequence and ``"auto"`` are as in :class:`sobolev.SobolevLoss`;
        ``"differential"`` follows Huge & Savine's scheme (order 1 only): value weight
        ``1 / (1 + d)``, derivative weight ``d / (1 + d)`` shared as a mean over inputs,
        each input's derivative residual scaled by ``lambda_j``. Theirs is
        ``1 / rms(dy_j)`` on the standardised scale, which gives every input an equal
        share; here ``lambda_j`` is proportional to ``1 / sqrt(rms(dy_j))`` with the
        same mean size, so inputs of equal scale get theirs and inputs that dominate
        ``f`` keep more weight (``benchmarks/README.md``).
    projections : int or None, default=None
        Stochastic Sobolev training: the number of random projections per derivative
        term (:class:`sobolev.SobolevLoss`); None is the exact loss.
    side : {"input", "output"}, default="input"
        Where random projections act.
    n_neighbors : int, optional
        Neighbours per point for ``derivatives="estimate"``, found in the standardised
        inputs; default ``min(2 d + 1, N - 1)``; at most ``N - 1``.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Precision of the network during training. ``"auto"``: float64 with full
        batches (small data, where a step costs about the same in either precision and
        fits reach round-off), float32 with minibatches. Predictions are evaluated in
        float64 from the trained weights, so they do not depend on how rows are batched.
    device : str or torch.device, default="cpu"
        Where the network trains.

    Attributes
    ----------
    model_ : sobolev.MLP
        The trained network, acting on standardised inputs and outputs.
    standardizer_ : sobolev.standardize.Standardizer
        The units the network works in.
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
        The derivative order trained (0 when no derivatives were used).
    derivatives_ : str
        The derivative source used: ``"given"``, ``"estimate"`` or ``"none"``.
    batch_size_ : int
        The minibatch size used.
    n_iter_ : int
        Epochs run (fewer than planned after an early stop); ``partial_fit`` adds one.
    t_ : int
        Optimiser steps run.
    loss_curve_ : list of float
        Mean training loss of each epoch, on the standardised scale (``partial_fit``
        appends its epoch's).
    best_loss_ : float or None
        Lowest of ``loss_curve_``; None with ``early_stopping`` (as in MLPRegressor).
    validation_scores_ : list of float or None
        With ``early_stopping``: ``1 - score / score of the held-out mean`` at each
        evaluation, the first one before training (the score as in
        ``early_stopping``; for the value MSE this is the R^2 of the held-out values,
        pooled over outputs; the held-out mean has zero derivatives); else None.
    best_validation_score_ : float or None
        That of the restored weights (``early_stopping`` only).
    loss_ : float
        Final training loss on the standardised scale.
    history_ : dict
        What :func:`sobolev.fit` returned: per-step losses and, with early stopping,
        the held-out record (``partial_fit`` extends the per-step lists).
    n_neighbors_ : int or None
        Neighbours used by ``derivatives="estimate"``.
    estimated_gradients_ : ndarray, shape (N, m, d), or None
        The estimated training gradients, in original units (``"estimate"`` only).
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] | int = (64, 64),
        activation: str = "softplus",
        *,
        alpha: float = 0.0,
        batch_size: int | Literal["auto"] = "auto",
        shuffle: bool = True,
        learning_rate_init: float = 1e-2,
        max_iter: int | Literal["auto"] = "auto",
        schedule: Literal["cosine", "constant", "one_cycle"] = "cosine",
        tol: float = 1e-4,
        n_iter_no_change: int = 15,
        early_stopping: bool | Literal["auto"] = "auto",
        validation_fraction: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        warm_start: bool = False,
        derivatives: Literal["auto", "given", "estimate", "none"] = "auto",
        order: int = 1,
        weights: Sequence[float] | Literal["auto", "differential"] | None = "differential",
        projections: int | None = None,
        side: Literal["input", "output"] = "input",
        n_neighbors: int | None = None,
        dtype: Literal["auto", "float32", "float64"] = "auto",
        device: str | torch.device = "cpu",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.schedule = schedule
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.derivatives = derivatives
        self.order = order
        self.weights = weights
        self.projections = projections
        self.side = side
        self.n_neighbors = n_neighbors
        self.dtype = dtype
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- fitting ------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any, dy: Any = None, d2y: Any = None, sample_weight: Any = None
    ) -> SobolevRegressor:
        """Fit the network to ``y`` and, depending on ``derivatives``, to gradients.

        Parameters
        ----------
        X : array-like, shape (N, d)
        y : array-like, shape (N,) or (N, m)
        dy : array-like, shape (N, d) for 1-D ``y`` or (N, m, d), optional
            Exact first derivatives ``dy[i, k, j] = d y_k / d x_j`` at ``X[i]``;
            required by ``derivatives="given"``.
        d2y : array-like, shape (N, d, d) for 1-D ``y`` or (N, m, d, d), optional
            Exact second derivatives, symmetric; required by ``order=2``.
        sample_weight : array-like, shape (N,), optional
            Non-negative weights: the loss and the standardisation become weighted
            means over samples (integer weights equal repeating samples).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On invalid parameters, non-finite or mis-shaped ``X``, ``y``, ``dy``,
            ``d2y``, ``sample_weight``, or missing derivative data; always before any
            training.
        """
        params = P.check_params(self)
        warm = self.warm_start and hasattr(self, "model_")
        X, Y, y_1d, sw, dy, d2y = P.check_data(self, X, y, dy, d2y, sample_weight, reset=not warm)
        n, d = X.shape
        m = Y.shape[1]
        if warm and m != self.n_outputs_:
            raise ValueError(
                f"warm_start=True needs y with the previous fit's m = {self.n_outputs_} "
                f"output(s), got {m}"
            )
        source, order = P.derivative_source(
            self.derivatives, self.order, self.n_neighbors, dy, d2y, n
        )

        std = self.standardizer_ if warm else P.weighted_standardizer(X, Y, sw)
        xs, ys, dys, d2ys = std.transform(X, Y, dy, d2y)
        estimated = None
        if source == "estimate":  # in standardised inputs, so distances mix units fairly
            dys = estimate_gradients(xs, ys, n_neighbors=self.n_neighbors)
            estimated = std.inverse(dv=dys)[2]
        if order == 0:
            dys = d2ys = None
        elif order == 1:
            d2ys = None

        rng = check_random_state(self.random_state)
        init_seed, fit_seed, split_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=3))
        train_idx, val_idx = np.arange(n), None
        if P.resolve_early_stopping(self.early_stopping, n, self.validation_fraction):
            train_idx, val_idx = P.split(n, self.validation_fraction, split_seed)
        n_train = len(train_idx)
        batch = P.resolve_batch_size(self.batch_size, n_train)
        dtype = P.resolve_dtype(self.dtype, n_train, batch)
        device = params["device"]
        model = self.model_ if warm else None
        if model is None:
            model = MLP(d, m, params["hidden"], self.activation, seed=init_seed, dtype=dtype)
        model = model.to(device=device, dtype=dtype).train()
        lam, weights = P.loss_weights(
            self.weights,
            order,
            None if dys is None else dys[train_idx],
            None if sw is None else sw[train_idx],
        )
        loss = SobolevLoss(order, weights=weights, projections=self.projections, side=self.side)

        def tensors(idx):
            return P.training_tensors(idx, xs, ys, dys, d2ys, sw, lam, dtype, device)

        x_train, target = tensors(train_idx)
        per_epoch = math.ceil(n_train / batch)
        epochs = P.resolve_epochs(self.max_iter, per_epoch)
        net = model if lam is None else nn.Sequential(P.InputScale(lam, dtype, device), model)
        steps = epochs * per_epoch
        kwargs, baseline = {}, None
        if val_idx is not None:
            metric = P.held_out_metric(self.weights, order, d)
            validation = tensors(val_idx)
            baseline = P.held_out_baseline(metric, validation[1])
            # Evaluate each epoch, but at most EVALUATIONS times over the budget: with
            # full batches an epoch is one step, too short for a patience of 10.
            every = per_epoch * max(1, round(steps / per_epoch / P.EVALUATIONS))
            kwargs = {
                "validation": validation,
                "val_metric": metric,
                "eval_every": every,
                "patience": int(self.n_iter_no_change),
                "patience_growth": P.PATIENCE_GROWTH,
                "tol": params["tol"],
            }
        history = sobolev_fit(
            net,
            x_train,
            target,
            loss=loss,
            steps=steps,
            lr=params["lr"],
            batch_size=None if batch == n_train else batch,
            shuffle=bool(self.shuffle),
            seed=fit_seed,
            progress=bool(self.verbose),
            schedule=self.schedule,
            weight_decay=params["alpha"],
            **kwargs,
        )
        self._record(history, per_epoch, baseline)
        self.model_ = model.eval()
        self.standardizer_ = std
        self.n_outputs_ = m
        self._y_1d = y_1d
        self.order_ = order
        self.derivatives_ = source
        self.batch_size_ = batch
        self.n_neighbors_ = None
        if source == "estimate":
            nn_ = self.n_neighbors
            self.n_neighbors_ = default_n_neighbors(n, d) if nn_ is None else nn_
        self.estimated_gradients_ = estimated
        # A later partial_fit starts its own optimiser on this network.
        self._optimizer = self._partial = None
        return self
