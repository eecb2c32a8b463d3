"""Vectorised training of an ensemble of identical-architecture MLPs.

Tiny trainings run one at a time are dominated by Python and kernel-launch overhead.
:class:`MLPEnsemble` stacks ``E`` independent MLPs as tensors (E, in, out) and evaluates
them with batched matmuls (``torch.baddbmm``); each member sees its inputs (E, N, d).

Input Jacobians are formed by an explicit reverse pass through the layers,

.. math::
    J = W_1^T \\,\\mathrm{diag}(\\sigma'(a_1))\\, W_2^T \\cdots
        \\mathrm{diag}(\\sigma'(a_L))\\, W_{\\mathrm{out}}^T,

written with batched matmuls, so the Sobolev loss costs about two forward passes and
composes with ``backward()`` for the parameter gradients (second-order terms through
:math:`\\sigma'` are kept for smooth activations; for ReLU :math:`\\sigma'` is a
constant mask, as in autograd's double backward). Members share no parameters, so
the gradient of the summed loss with respect to member ``e`` is member ``e``'s own
gradient, and Adam (elementwise) on the stacked tensors is Adam on each member.

:func:`fit_ensemble` reproduces :func:`sobolev.fit` with ``SobolevLoss(order<=1,
weights=(w0, w1))`` for every member at once (same initial weights from
:meth:`MLPEnsemble.from_seeds`, data and seed: the numbers agree to rounding).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sobolev._compaction import MemberStack, compact_if_due
from sobolev._training import (
    EarlyStopping,
    check_early_stopping,
    check_finite_rows,
    check_schedule,
    check_seed,
    minibatches,
    train,
)
from sobolev._validation import (
    as_tensor,
    check_bool,
    check_member_data,
    check_member_layers,
    check_member_validation,
    check_member_weight_decay,
    check_member_weights,
    check_positive_int,
)
from sobolev.activations import REGISTRY, get_activation
from sobolev.models import MLP, check_hidden

__all__ = ["MLPEnsemble", "fit_ensemble"]


def __getattr__(name: str) -> Any:
    if name != "ACTIVATION_DERIVATIVES":  # deprecated for one release
        raise AttributeError(f"module 'sobolev.ensemble' has no attribute {name!r}")
    msg = "sobolev.ensemble.ACTIVATION_DERIVATIVES is deprecated: use sobolev.activations.REGISTRY"
    warnings.warn(msg, DeprecationWarning, stacklevel=2)
    return {key: (act.sigma, act.sigma_prime) for key, act in REGISTRY.items()}


class MLPEnsemble(nn.Module):
    """``E`` independent MLPs of one architecture, evaluated with batched matmuls.

    Member ``e`` computes ``h_0 = x_e``, ``h_l = sigma(h_{l-1} W_l[e] + b_l[e])`` and a
    linear output, exactly like :class:`sobolev.MLP`.

    Parameters
    ----------
    layers : sequence of Tensor
        Per layer, the weight matrices of every member, shape (E, in, out) (the
        transpose of ``nn.Linear.weight``); a single layer is a linear model.
    biases : sequence of Tensor
        Per layer, shape (E, 1, out).
    activation : str
        One of :data:`sobolev.activations.REGISTRY`.

    Attributes
    ----------
    layers, biases : nn.ParameterList
    n_members, in_dim, out_dim : int
    """

    def __init__(
        self,
        layers: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        activation: str = "relu",
    ) -> None:
        super().__init__()
        act = get_activation(activation)
        e = check_member_layers(layers, biases)
        self.layers = nn.ParameterList([nn.Parameter(w.detach().clone()) for w in layers])
        self.biases = nn.ParameterList([nn.Parameter(b.detach().clone()) for b in biases])
        self.activation = activation
        self._sigma, self._sigma_prime = act.sigma, act.sigma_prime
        self.n_members = e
        self.in_dim = layers[0].shape[1]
        self.out_dim = layers[-1].shape[2]

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_models(cls, models: Sequence[MLP]) -> MLPEnsemble:
        """Stack the layer matrices of :class:`sobolev.MLP` models of one architecture."""
        models = list(models)
        if not models or not all(isinstance(m, MLP) for m in models):
            raise ValueError("models must be a non-empty sequence of sobolev.MLP")
        arch = {(m.in_dim, m.out_dim, m.hidden, m.activation) for m in models}
        if len(arch) != 1:
            raise ValueError(f"models must share one architecture, got {sorted(arch)}")
        linears = [[mod for mod in m if isinstance(mod, nn.Linear)] for m in models]
        per_layer = list(zip(*linears, strict=True))  # the i-th linear layer of every model
        layers = [torch.stack([lin.weight.detach().T for lin in per]) for per in per_layer]
        biases = [torch.stack([lin.bias.detach()[None] for lin in per]) for per in per_layer]
        return cls(layers, biases, models[0].activation)

    @classmethod
    def from_seeds(
        cls,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        activation: str,
        seeds: Sequence[int],
        *,
        dtype: torch.dtype | None = None,
    ) -> MLPEnsemble:
        """One member per seed, initialised exactly as ``sobolev.MLP(..., seed=s)``."""
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must hold at least one seed")
        hidden = check_hidden(hidden)
        models = [MLP(in_dim, out_dim, hidden, activation, seed=s, dtype=dtype) for s in seeds]
        return cls.from_models(models)

    def to_models(self) -> list[MLP]:
        """Each member as an independent :class:`sobolev.MLP` (weights copied)."""
        hidden = tuple(w.shape[2] for w in self.layers[:-1])
        out = []
        for e in range(self.n_members):
            m = MLP(self.in_dim, self.out_dim, hidden, self.activation, dtype=self.dtype)
            lins = [mod for mod in m if isinstance(mod, nn.Linear)]
            with torch.no_grad():
                for lin, w, b in zip(lins, self.layers, self.biases, strict=True):
                    lin.weight.copy_(w[e].T)
                    lin.bias.copy_(b[e, 0])
            out.append(m)
        return out

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].dtype

    def extra_repr(self) -> str:
        widths = [self.in_dim, *(w.shape[2] for w in self.layers)]
        return f"members={self.n_members}, widths={widths}, activation={self.activation!r}"

    # -- evaluation --------------------------------------------------------------------
    def _members_inputs(self, x: Any) -> torch.Tensor:
        t = as_tensor(x, "x", like=self.layers[0])
        if t.ndim == 2:
            t = t.unsqueeze(0).expand(self.n_members, -1, -1)
        if t.ndim != 3 or t.shape[0] != self.n_members or t.shape[2] != self.in_dim:
            raise ValueError(
                f"x must have shape (N, d) or (E, N, d) with E = {self.n_members}, "
                f"d = {self.in_dim}; got shape {tuple(t.shape)}"
            )
        return t

    def _forward(
        self, x: torch.Tensor, need_jacobian: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, slopes = x, []
        for w, b in zip(self.layers[:-1], self.biases[:-1], strict=True):
            a = torch.baddbmm(b, h, w)
            h = self._sigma(a)
            if need_jacobian:
                slopes.append(self._sigma_prime(a))
        y = torch.baddbmm(self.biases[-1], h, self.layers[-1])
        if not need_jacobian:
            return y, None
        e, n, m = y.shape
        if not slopes:
            # A linear model: every sample's Jacobian is the member's own matrix.
            jac = self.layers[0].transpose(1, 2).unsqueeze(1).expand(e, n, m, self.in_dim)
        elif m == 1:
            # The backward signal is carried transposed, g^T of shape (E, width, N), so
            # that every product is bmm(W, g^T): the parameter gradient of both the
            # forward and the Jacobian path then lands in W's own (E, in, out) layout
            # and accumulates without strided copies.
            g = self.layers[-1] * slopes[-1].transpose(1, 2)
            for w, s in zip(reversed(self.layers[1:-1]), reversed(slopes[:-1]), strict=True):
                g = torch.bmm(w, g) * s.transpose(1, 2)
            jac = torch.bmm(self.layers[0], g).transpose(1, 2).unsqueeze(2)
        else:
            g = self.layers[-1].transpose(1, 2).unsqueeze(1) * slopes[-1].unsqueeze(2)
            for w, s in zip(reversed(self.layers[1:-1]), reversed(slopes[:-1]), strict=True):
                g = torch.bmm(g.reshape(e, n * m, -1), w.transpose(1, 2)).reshape(e, n, m, -1)
                g = g * s.unsqueeze(2)
            jac = torch.bmm(g.reshape(e, n * m, -1), self.layers[0].transpose(1, 2))
            jac = jac.reshape(e, n, m, -1)
        return y, jac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every member, shape (E, N, m), for inputs (E, N, d) or shared (N, d)."""
        return self._forward(self._members_inputs(x), False)[0]

    def value_and_jacobian(
        self, x: Any, *, create_graph: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs (E, N, m) and input Jacobians (E, N, m, d) of every member.

        Parameters
        ----------
        x : array or Tensor, shape (E, N, d) or (N, d) (shared by all members)
        create_graph : bool
            Keep the graph to the parameters (needed inside a loss).
        """
        x = self._members_inputs(x)
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            return self._forward(x, True)

    @torch.no_grad()
    def predict(
        self, x: Any, *, jacobian: bool = True, chunk: int = 4096
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Detached outputs (E, N, m) and Jacobians (E, N, m, d) in chunks of ``chunk`` samples."""
        x, chunk = self._members_inputs(x), check_positive_int(chunk, "chunk")
        ys, js = [], []
        for start in range(0, x.shape[1], chunk):
            y, j = self._forward(x[:, start : start + chunk], jacobian)
            ys.append(y)
            js.append(j)
        return torch.cat(ys, 1), (torch.cat(js, 1) if jacobian else None)


def _member_losses(ensemble, x, y, dy, w0, w1) -> tuple[torch.Tensor, ...]:
    """Per-member weighted total, order-0 and order-1 terms (None without dy), each (E,)."""
    pred, jac = ensemble._forward(x, dy is not None)
    l0 = ((pred - y) ** 2).sum(2).mean(1)
    total = w0 * l0
    l1 = None
    if dy is not None:
        l1 = ((jac - dy) ** 2).sum((2, 3)).mean(1)
        total = total + w1 * l1
    return total, l0, l1


def fit_ensemble(
    ensemble: MLPEnsemble,
    x: Any,
    y: Any,
    dy: Any = None,
    *,
    weights: Any = (1.0, 1.0),
    steps: int = 1000,
    lr: float = 1e-3,
    schedule: Literal["constant", "cosine", "one_cycle"] = "constant",
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    validation: tuple | None = None,
    val_metric: Literal["values", "loss"] = "values",
    eval_every: int = 1,
    patience: int | None = None,
    tol: float = 0.0,
    patience_growth: float = 0.0,
    weight_decay: Any = 0.0,
    compact: bool = True,
) -> dict[str, np.ndarray]:
    """Train every member of ``ensemble`` on its own data with Adam, all at once.

    Member ``e`` minimises ``w0[e] mean_i |m_e(x_ei) - y_ei|^2 + w1[e] mean_i
    |J_e(x_ei) - dy_ei|_F^2``: :class:`sobolev.SobolevLoss` with ``order=1,
    weights=(w0, w1)`` (``w1 = 0`` is regular training, ``order=0``).

    Parameters
    ----------
    ensemble : MLPEnsemble
        Trained in place.
    x : array or Tensor, shape (E, N, d)
        Training inputs of each member.
    y : array or Tensor, shape (E, N, m) or (E, N)
    dy : array or Tensor, shape (E, N, m, d) or (E, N, d); optional
        Target input derivatives; needed when any ``w1`` is positive.
    weights : sequence of 2 floats, or array (E, 2)
        Per-order loss weights ``(w0, w1)`` for all members, or per member (the same
        meaning as in :class:`sobolev.SobolevLoss`).
    steps, lr, schedule
        Adam steps (full batch unless ``batch_size``), initial learning rate and its
        schedule, as in :func:`sobolev.fit`.
    batch_size : int, optional
        Minibatches from one permutation per epoch shared by all members, drawn
        exactly as :func:`sobolev.fit` draws them for ``seed``.
    seed : int
        Seeds the minibatch order.
    progress : bool
        tqdm bar, as in :func:`sobolev.fit`.
    validation : (x_val, y_val) or (x_val, y_val, dy_val), optional
        Held-out data per member, shapes (E, N_val, d), (E, N_val, m) or (E, N_val),
        (E, N_val, m, d) or (E, N_val, d). Evaluated and restored per member as in
        :func:`sobolev.fit`: each member keeps its own best state, and a member that
        has run out of patience keeps the state it stopped with, so every member
        ends as its own :func:`sobolev.fit` run would. Training ends when every
        member has stopped (see ``compact`` for the members that stopped before).
    val_metric : {"values", "loss"}
        As in :func:`sobolev.fit`; ``"loss"`` uses each member's ``(w0, w1)`` and
        needs ``dy_val`` when any ``w1`` is positive.
    eval_every, patience, tol, patience_growth
        As in :func:`sobolev.fit`.
    weight_decay : float or array (E,)
        Adam's coupled L2 decay, per member: ``wd_e * theta_e`` is added to member
        ``e``'s gradient (the gradient of ``0.5 * wd_e * |theta_e|^2``, all layers and
        biases), as ``torch.optim.Adam(weight_decay=wd_e)`` does.
    compact : bool
        With ``patience``, stop computing members that have stopped: at an evaluation
        where at least half of the members still computed have run out of patience,
        training goes on with a stack of the active members only (parameters, Adam's
        state and data sliced; the minibatch order is unchanged). Active members follow
        the same trajectory, and every member ends in the same best state, as with
        ``compact=False``, which computes every member until the last one stops. After
        a stopped member has been left out, its training-loss history (``total``,
        ``order0``, ``order1``) repeats its value at the last computed step and its
        ``val`` entries its last computed value; up to its ``stopped_step`` the
        history is the same either way.

    Returns
    -------
    dict of str to ndarray
        ``"total"``, ``"order0"``, ``"order1"`` per step run and member, (steps, E)
        (unweighted terms; ``order1`` is 0 where no derivatives were fitted), ``"lr"``
        (steps,). With ``validation`` also ``"val_step"`` (n_evals,), ``"val"``
        (n_evals, E), and per member ``"best_step"``, ``"best_val"``, ``"stopped_step"``.
        With ``compact``, after a member stops (and has been left out of the stack),
        its training-loss history repeats its value at the last computed step and its
        ``val`` its last computed value.

    Raises
    ------
    ValueError
        On inconsistent shapes or settings (naming the argument), before any training.
    FloatingPointError
        If some member's loss becomes NaN or inf; the message names step and members.
    """
    if not isinstance(ensemble, MLPEnsemble):
        raise ValueError(f"ensemble must be an MLPEnsemble, got {type(ensemble).__name__}")
    compact = check_bool(compact, "compact")
    ref = ensemble.layers[0]
    e = ensemble.n_members
    w = check_member_weights(weights, e, like=ref)
    sobolev = bool((w[:, 1] > 0).any())
    shapes = {"like": ref, "e": e, "d": ensemble.in_dim, "m": ensemble.out_dim}
    xt, yt, dyt = check_member_data(x, y, dy, need_dy=sobolev, **shapes)
    n = xt.shape[1]
    steps, batch_size = check_schedule(steps, lr, schedule, batch_size, n)
    seed = check_seed(seed)
    eval_every, patience, tol, patience_growth = check_early_stopping(
        validation, val_metric, eval_every, patience, tol, patience_growth
    )
    w0, w1 = w[:, 0], w[:, 1]
    wd = check_member_weight_decay(weight_decay, e, like=ref)
    data = {"x": xt, "y": yt, "dy": dyt, "w0": w0, "w1": w1, "wd": wd}
    early = None
    if validation is not None:
        need = sobolev and val_metric == "loss"
        xv, yv, dyv = check_member_validation(validation, need_dy=need, **shapes)
        data.update(xv=xv, yv=yv, dyv=dyv if val_metric == "loss" else None)

        def evaluate() -> torch.Tensor:
            t = stack.tensors  # the members computed now
            total, l0, _ = _member_losses(stack.model, t["xv"], t["yv"], t["dyv"], t["w0"], t["w1"])
            return total if val_metric == "loss" else l0

        early = EarlyStopping(
            evaluate, list(ensemble.parameters()), e, eval_every=eval_every,
            patience=patience, tol=tol, member_axis=True, patience_growth=patience_growth,
        )  # fmt: skip

    opt = torch.optim.Adam(list(ensemble.parameters()), lr=lr, fused=True)
    stack = MemberStack(ensemble, opt, data)
    if wd is not None:
        opt.register_step_pre_hook(lambda *_: stack.decay_gradients())
    hist = {k: torch.zeros(steps, e, dtype=ref.dtype) for k in ("total", "order0", "order1")}
    lrs = np.zeros(steps)
    batches = minibatches(n, batch_size, torch.Generator().manual_seed(seed))

    def step_loss(step: int, idx: torch.Tensor | None) -> torch.Tensor:
        t = stack.tensors
        xb, yb, dyb = t["x"], t["y"], t["dy"]
        if idx is not None:
            xb, yb = xb[:, idx], yb[:, idx]
            dyb = None if dyb is None else dyb[:, idx]
        total, l0, l1 = _member_losses(stack.model, xb, yb, dyb, t["w0"], t["w1"])
        stack.record(hist, step, {"order1": l1, "order0": l0, "total": total})
        return total.sum()

    def after_step(step: int, step_lr: float) -> str | None:
        lrs[step] = step_lr
        # Checking every step would synchronise with the device each time.
        if step % 100 == 99 or step == steps - 1:
            check_finite_rows(hist["total"], 0, step + 1)
            return f"{float(hist['total'][step].mean()):.3g}"
        return None

    after_eval = None
    if compact and early is not None and patience is not None:

        def after_eval(step: int) -> None:
            compact_if_due(stack, early)

    ran = train(
        opt, step_loss, lr=lr, schedule=schedule, steps=steps, batches=batches,
        after_step=after_step, progress=progress, desc="ensemble", early=early,
        after_eval=after_eval,
    )  # fmt: skip
    check_finite_rows(hist["total"], 0, ran)
    out = {k: v[:ran].numpy() for k, v in hist.items()}
    out["lr"] = lrs[:ran]
    if early is not None:
        out.update({k: v.numpy() for k, v in early.restore(ran).items()})
    return out
