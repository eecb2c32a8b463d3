"""``partial_fit`` of :class:`sobolev.sklearn.SobolevRegressor`: one epoch per call.

The first call on an unfitted estimator fixes what an incremental fit cannot revisit,
all from its batch: the network's initial weights, the
:class:`~sobolev.standardize.Standardizer`, and the derivative weights
(``weights="differential"``'s per-input scales, ``"auto"``'s per-order scales). Later
calls train the same network with the same Adam optimiser, kept in ``_optimizer``; it
travels through pickling and ``copy.deepcopy`` as arrays (its ``state_dict``) and is
rebuilt on the restored network, so a restored estimator continues exactly as the
original would. After ``fit`` the first ``partial_fit`` keeps ``fit``'s network and
standardisation but starts a fresh Adam and fixes the derivative weights from its own
batch (``fit`` keeps no optimiser).

The learning rate is constant (``learning_rate_init``): a cosine schedule needs a known
budget. Nothing is held out, as in ``MLPRegressor``, which refuses early stopping in
``partial_fit``. ``derivatives="estimate"`` is refused: neighbour estimates from one
chunk would depend on how the data is cut into chunks (and a chunk of one sample has
no neighbours); estimate once with :func:`sobolev.estimate.estimate_gradients` on all
the data and pass them as ``dy`` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn

from sobolev import _estimator_params as P
from sobolev._training import loss_steps, train
from sobolev.loss import SobolevLoss
from sobolev.models import MLP
from sobolev.target import Target

_NO_ESTIMATE = (
    'partial_fit needs derivatives="given", "auto" or "none", got "estimate": neighbour '
    "estimates from one chunk would depend on how the data is split into chunks; "
    "estimate the gradients once on all the data (sobolev.estimate.estimate_gradients) "
    "and pass them as dy"
)


class PartialFitMixin:
    """``partial_fit`` and the pickling of its optimiser (module docstring)."""

    def partial_fit(self, X: Any, y: Any, dy: Any = None, sample_weight: Any = None):
        """Train one epoch over the given samples, continuing earlier calls.

        Parameters
        ----------
        X : array-like, shape (N, d)
            The same d in every call.
        y : array-like, shape (N,) or (N, m)
            The same m in every call.
        dy : array-like, shape (N, d) for 1-D ``y`` or (N, m, d), optional
            Exact first derivatives. Pass them to every call or to none: the first call
            fixes whether derivatives are trained (``derivatives_``, ``order_``).
        sample_weight : array-like, shape (N,), optional
            Non-negative weights of this call's samples in the loss (and, in the first
            call, in the standardisation).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On invalid parameters or data, before any training: also for
            ``early_stopping=True`` (``"auto"`` counts as off here),
            ``derivatives="estimate"``, ``order=2`` with derivatives (no ``d2y``
            here), an ``X`` of another width or a ``y`` with another m than the
            fitted ones, and ``dy`` given to some calls but not to others.
        FloatingPointError
            If the loss becomes NaN or inf.

        Notes
        -----
        An epoch is ``ceil(N / batch_size)`` Adam steps at ``learning_rate_init`` over
        this call's samples, each sample used once (``shuffle``: in a fresh random
        order; otherwise in the given order). ``max_iter``, ``schedule``,
        ``warm_start`` and ``early_stopping="auto"`` play no part. Each call's
        shuffle order and random projections are seeded by ``random_state`` and the
        number of earlier calls, so a sequence of calls is reproducible. ``dtype="auto"``
        is resolved by the first call (float64 when its samples form one full batch).
        With the same integer ``random_state`` and the exact loss (no
        ``projections``), ``k`` calls on the full data give the model of ``fit`` with
        ``max_iter=k``, ``schedule="constant"``, ``early_stopping=False``, with full
        batches or with minibatches and ``shuffle=False``.
        """
        params = P.check_params(self)
        es = self.early_stopping
        if not isinstance(es, str) and es:
            raise ValueError(
                "partial_fit does not support early_stopping=True (as MLPRegressor): each "
                'call is one epoch with nothing held out; set early_stopping=False or "auto" '
                "(off in partial_fit)"
            )
        if self.derivatives == "estimate":
            raise ValueError(_NO_ESTIMATE)
        fitted = hasattr(self, "model_")
        X, Y, y_1d, sw, dy, _ = P.check_data(self, X, y, dy, None, sample_weight, reset=not fitted)
        (n, d), m = X.shape, Y.shape[1]
        source, order = P.derivative_source(
            self.derivatives, min(int(self.order), 1), None, dy, None, n, method="partial_fit"
        )
        if order and self.order == 2:
            raise ValueError(
                "partial_fit takes no d2y and trains up to first derivatives: set order=1, "
                "or use fit(X, y, dy=..., d2y=...) for order=2"
            )
        if fitted:
            if m != self.n_outputs_:
                raise ValueError(
                    f"partial_fit needs y with the fitted m = {self.n_outputs_} output(s), got {m}"
                )
            if (source, order) != (self.derivatives_, self.order_):
                raise ValueError(
                    f"the estimator was fitted with derivatives_={self.derivatives_!r} "
                    f"(order_={self.order_}) but this partial_fit call resolves to "
                    f"{source!r} (order {order}): the first call fixes the derivative "
                    "source, so pass dy to every call or to none"
                )
            model = self.model_
        std = self.standardizer_ if fitted else P.weighted_standardizer(X, Y, sw)
        # As fit draws them, so that the first call starts from fit's initial weights.
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=3)
        batch = P.resolve_batch_size(self.batch_size, n)
        if not fitted:
            dtype = P.resolve_dtype(self.dtype, n, batch)
            model = MLP(d, m, params["hidden"], self.activation, seed=int(seeds[0]), dtype=dtype)
        device, dtype = params["device"], next(model.parameters()).dtype
        opt = getattr(self, "_optimizer", None)
        if next(model.parameters()).device != device:
            model.to(device)  # moves the parameters in place: the optimiser keeps them
            if opt is not None:
                opt.load_state_dict(opt.state_dict())  # casts its moments to the device
        xs, ys, dys, _ = std.transform(X, Y, dy if order else None, None)
        state = getattr(self, "_partial", None)
        if state is None:
            lam, weights = P.loss_weights(self.weights, order, dys, sw)
            state = {"lam": lam, "weights": weights, "seed": int(seeds[1]), "calls": 0}
        lam = state["lam"]
        x, target = P.training_tensors(slice(None), xs, ys, dys, None, sw, lam, dtype, device)
        loss = SobolevLoss(order, state["weights"], self.projections, self.side)
        if loss.weights == "auto":
            # Fixed on the first batch, so that the objective stays the same across calls.
            state["weights"] = loss.weights = loss.resolve_weights(target, x)
        if opt is None:
            params_ = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.Adam(params_, lr=params["lr"], weight_decay=params["alpha"])
        for group in opt.param_groups:
            group["weight_decay"] = params["alpha"]
        net = model if lam is None else nn.Sequential(P.InputScale(lam, dtype, device), model)
        seed = int(np.random.SeedSequence([state["seed"], state["calls"]]).generate_state(1)[0])
        model.train()
        history = _one_epoch(
            net, opt, loss, x, target, batch=batch, shuffle=bool(self.shuffle), seed=seed,
            lr=params["lr"], progress=bool(self.verbose),
        )  # fmt: skip
        self._record_epoch(history, fitted)
        self.model_ = model.eval()
        self._optimizer = opt
        self._partial = state | {"calls": state["calls"] + 1}
        self.batch_size_ = batch
        if not fitted:
            self.standardizer_ = std
            self.n_outputs_, self._y_1d = m, y_1d
            self.order_, self.derivatives_ = order, source
            self.n_neighbors_ = self.estimated_gradients_ = None
        return self

    def _record_epoch(self, history: dict[str, list[float]], fitted: bool) -> None:
        """Fitted attributes after one more epoch (``history``: its per-step lists)."""
        if not fitted:
            self.history_, self.loss_curve_, self.n_iter_, self.t_ = {}, [], 0, 0
        for key, values in history.items():
            self.history_.setdefault(key, []).extend(values)
        self.n_iter_ += 1
        self.t_ += len(history["total"])
        self.loss_curve_ = [*self.loss_curve_, float(np.mean(history["total"]))]
        self.loss_ = float(history["total"][-1])
        self.best_loss_ = min(self.loss_curve_)
        self.validation_scores_ = self.best_validation_score_ = None

    # -- pickling: the optimiser travels as arrays, rebuilt on the restored network --
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        opt = state.pop("_optimizer", None)
        if opt is not None:
            sd = opt.state_dict()
            state["_optimizer_arrays"] = {
                "state": {
                    i: {k: v.detach().cpu().numpy().copy() for k, v in s.items()}
                    for i, s in sd["state"].items()
                },
                "param_groups": sd["param_groups"],
            }
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        arrays = state.pop("_optimizer_arrays", None)
        super().__setstate__(state)
        if arrays is not None and hasattr(self, "model_"):
            opt = torch.optim.Adam([p for p in self.model_.parameters() if p.requires_grad])
            opt.load_state_dict(
                {
                    "state": {
                        i: {k: torch.from_numpy(np.array(v)) for k, v in s.items()}
                        for i, s in arrays["state"].items()
                    },
                    "param_groups": arrays["param_groups"],
                }
            )
            self._optimizer = opt


def _one_epoch(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    loss: SobolevLoss,
    x: torch.Tensor,
    target: Target,
    *,
    batch: int,
    shuffle: bool,
    seed: int,
    lr: float,
    progress: bool,
) -> dict[str, list[float]]:
    """One pass over the N samples of ``x`` (N, d); return the per-step history.

    Unlike :func:`sobolev._training.minibatches`, whose shuffled passes leave the
    ``N % batch`` remainder out, every sample is used once: the last minibatch is
    shorter.
    """
    n = x.shape[0]
    generator = torch.Generator().manual_seed(seed)
    if batch >= n:
        slices: list[torch.Tensor | None] = [None]
    else:
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        slices = list(order.split(batch))
    history, step_loss, after_step = loss_steps(
        loss, net, x, target, generator, "in partial_fit: lower learning_rate_init"
    )

    # As sobolev.fit: any randomness inside the model is seeded, the caller's RNG kept.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train(
            opt, step_loss, lr=lr, schedule="constant", steps=len(slices),
            batches=iter(slices), after_step=after_step, progress=progress,
            desc="partial_fit",
        )  # fmt: skip
    return history
