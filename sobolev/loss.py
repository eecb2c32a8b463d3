"""The Sobolev loss: squared errors on values and on input derivatives."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from sobolev import derivatives as D
from sobolev._validation import check_positive_int
from sobolev.target import Target, weighted_mean

__all__ = ["SobolevLoss", "sphere"]

_PIECEWISE_LINEAR = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.PReLU, nn.Hardtanh, nn.RReLU)


def sphere(n: int, dim: int, *, like: torch.Tensor, generator=None) -> torch.Tensor:
    """Draw ``n`` vectors uniformly on the unit sphere of R^dim, shape (n, dim)."""
    g = torch.randn(n, dim, generator=generator, dtype=like.dtype, device="cpu")
    return (g / g.norm(dim=1, keepdim=True)).to(like.device)


class SobolevLoss:
    r"""Squared error on values and on input derivatives up to ``order``.

    With weights :math:`w_0, w_1, w_2` the exact loss is

    .. math::
        w_0 \, \mathrm{mean}_i |m(x_i) - y_i|^2
        + w_1 \, \mathrm{mean}_i |J_m(x_i) - Dy_i|_F^2
        + w_2 \, \mathrm{mean}_i |H_m(x_i) - D^2y_i|_F^2,

    norms summed over all output components and averaged over samples (a weighted
    mean when the target carries ``sample_weight``); ``order=0`` is plain regression.
    Inputs are cast to the dtype and device of the model's parameters.

    Stochastic Sobolev training (``projections=k``) replaces each derivative term by
    random projections, drawn anew per sample, per order and per call:

    * ``side="input"`` (default): ``v`` uniform on the unit sphere of R^d; order 1
      compares ``J v`` (N, m), order 2 compares ``H_k v`` (N, m, d). Since
      E[(r.v)^2] = |r|^2 / d, the squared residuals are multiplied by ``d``.
    * ``side="output"``: ``u`` uniform on the sphere of R^m; order 1 compares
      ``u^T J`` (N, d), order 2 compares ``sum_k u_k H_k v`` (N, d) with ``v`` as
      above; the squared residuals are multiplied by ``m`` (order 1) and ``m d``
      (order 2). Cheaper when the model has many outputs.

    A model defining its own forward-mode rule ``model.value_and_jvp(x, v)`` (see
    :mod:`sobolev.derivatives`) is called through it for ``order=1, side="input"``,
    with the same draws, so the loss is the same as by autodiff.

    With these factors and the mean over the ``k`` draws, each stochastic term is an
    unbiased estimate of the corresponding exact term.

    Parameters
    ----------
    order : {0, 1, 2}
        Highest derivative order matched.
    weights : sequence of float, "auto" or None
        Per-order weights ``(w_0, ..., w_order)``; None means all ones. ``"auto"``
        balances orders from the target's scales in the Differential-ML spirit:
        ``w_k = c_k / s_k`` with ``c_k = d^k / sum_j d^j`` (so ``1/(1+d)`` and
        ``d/(1+d)`` for order 1) and ``s_k`` the mean squared size of the target's
        order-k term (see :meth:`Target.scales`). A function target fixes its scales
        the first time they are asked for: call :meth:`resolve_weights` on the full
        training inputs before training on minibatches.
    projections : int or None
        None for the exact loss, else the number ``k >= 1`` of random projections.
    side : {"input", "output"}
        Where stochastic projections act (ignored for the exact loss).

    Attributes
    ----------
    components : dict of str to float
        The last call's unweighted per-order terms ``"order0"``, ``"order1"``,
        ``"order2"`` and the weighted ``"total"``.
    output : Tensor or None
        The model's values (N, m) from the last call, with their graph, so a caller
        adding a loss of its own on the values (e.g. a KL with ``w_0 = 0``) reuses
        this forward pass instead of evaluating the model again.
    """

    def __init__(
        self,
        order: int = 1,
        weights: Sequence[float] | Literal["auto"] | None = None,
        projections: int | None = None,
        side: Literal["input", "output"] = "input",
    ) -> None:
        if isinstance(order, bool) or order not in (0, 1, 2):
            raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
        self.order = int(order)
        if weights is not None and not (isinstance(weights, str) and weights == "auto"):
            expected = f'a sequence of order + 1 = {self.order + 1} floats, "auto" or None'
            if isinstance(weights, str):
                raise ValueError(f"weights must be {expected}, got {weights!r}")
            try:
                weights = tuple(float(w) for w in weights)
            except (TypeError, ValueError):
                raise ValueError(f"weights must be {expected}, got {weights!r}") from None
            if len(weights) != self.order + 1:
                raise ValueError(
                    f"weights must hold order + 1 = {self.order + 1} values (w_0..w_{self.order}), "
                    f"got {len(weights)}"
                )
            if any(not w >= 0 or w == float("inf") for w in weights):
                raise ValueError(f"weights must be finite and >= 0, got {weights}")
        self.weights = weights
        if projections is not None:
            projections = check_positive_int(projections, "projections")
        self.projections = projections
        if side not in ("input", "output"):
            raise ValueError(f'side must be "input" or "output", got {side!r}')
        self.side = side
        self.components: dict[str, float] = {}
        self.output: torch.Tensor | None = None
        self._warned = False

    def __repr__(self) -> str:
        return (
            f"SobolevLoss(order={self.order}, weights={self.weights!r}, "
            f"projections={self.projections!r}, side={self.side!r})"
        )

    def resolve_weights(
        self, target: Target, x: torch.Tensor, dtype: torch.dtype | None = None
    ) -> tuple[float, ...]:
        """The per-order weights used for ``target`` at inputs ``x`` (N, d).

        For ``weights="auto"`` and a function target, the first call fixes the
        target's scales from its ``x``: make it with the full training inputs.
        ``dtype`` is the training precision (default ``x.dtype``): a term whose scale
        is so small that its weight overflows it is zero to that precision and is left
        unnormalised, like a constant target's.
        """
        if self.weights is None:
            return (1.0,) * (self.order + 1)
        if self.weights != "auto":
            return self.weights
        d = x.shape[1]
        scales = target.scales(x, self.order)
        c = [float(d) ** k for k in range(self.order + 1)]
        total = sum(c)
        largest = torch.finfo(x.dtype if dtype is None else dtype).max
        # A constant target has scale 0; leave its term unnormalised rather than divide by
        # 0 (Easom's values of 1e-105 are 0 in float32, but would give weights of 1e207).
        return tuple(
            ck / total / s if s > 0 and ck / total / s <= largest else ck / total
            for ck, s in zip(c, scales, strict=False)
        )

    def __call__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        target: Target,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Evaluate the loss of ``model`` at inputs ``x`` (N, d) against ``target``.

        Parameters
        ----------
        model : nn.Module or callable
            Maps (N, d) to (N, m) or (N,).
        x : Tensor, shape (N, d)
        target : Target
            Array targets must hold the same N samples as ``x``.
        generator : torch.Generator, optional
            Source of the random projections (CPU generator).

        Returns
        -------
        Tensor, scalar
            Differentiable with respect to the parameters of ``model``.
        """
        if not isinstance(target, Target):
            raise ValueError(
                f"target must be a sobolev.Target (Target.from_arrays or Target.from_function), "
                f"got {type(target).__name__}"
            )
        x = D._as_model_input(model, x)
        self._check(model, x, target)
        order, n, d = self.order, x.shape[0], x.shape[1]
        w = self.resolve_weights(target, x)
        custom = None
        if order == 1 and self.projections is not None and self.side == "input":
            custom = D._custom_jvp(model)
        with torch.enable_grad():
            if custom is None:
                xg = x.detach().requires_grad_(order > 0)
                y = D._evaluate(model, xg)
            else:
                # Same draws, in the same order, as the autodiff path below.
                vs = [sphere(n, d, like=x, generator=generator) for _ in range(self.projections)]
                pairs = [D._apply_custom_jvp(custom, x, v) for v in vs]
                y = pairs[0][0]
            y_t = target.values(x)
            if y_t.shape != y.shape:
                raise ValueError(
                    f"model output has shape {tuple(y.shape)} but target values have shape "
                    f"{tuple(y_t.shape)}: their number of outputs m must agree"
                )
            self.output = y
            sw = target.sample_weight
            terms = [weighted_mean(((y - y_t) ** 2).sum(1), sw)]
            if custom is not None:
                residuals = [
                    weighted_mean(((Jv - target.jvp(x, v)) ** 2).sum(1), sw)
                    for (_, Jv), v in zip(pairs, vs, strict=True)
                ]
                terms.append(d * sum(residuals) / self.projections)
            elif order >= 1:
                terms += self._derivative_terms(y, xg, x, target, n, d, generator)
        total = sum(wk * t for wk, t in zip(w, terms, strict=True))
        self.components = {f"order{k}": float(t.detach()) for k, t in enumerate(terms)}
        self.components["total"] = float(total.detach())
        return total

    # -- internals -----------------------------------------------------------------
    def _check(self, model, x: torch.Tensor, target: Target) -> None:
        D._check_no_batch_statistics(model, "model")
        if not target.is_function:
            if len(target) != x.shape[0]:
                raise ValueError(
                    f"x has N = {x.shape[0]} samples but target has {len(target)}; select the "
                    "same samples (target[idx]) as the inputs"
                )
            if self.order > target.max_order:
                need = "dy" if self.order == 1 else "d2y"
                raise ValueError(
                    f"SobolevLoss(order={self.order}) needs {need} but the target was built "
                    f"without it: pass {need} to Target.from_arrays or lower the order"
                )
            if target.dy is not None and target.dy.shape[2] != x.shape[1]:
                raise ValueError(
                    f"x has d = {x.shape[1]} inputs but target dy has shape "
                    f"{tuple(target.dy.shape)} (N, m, d) with d = {target.dy.shape[2]}"
                )
        if self.order >= 2 and not self._warned and isinstance(model, nn.Module):
            if any(isinstance(mod, _PIECEWISE_LINEAR) for mod in model.modules()):
                self._warned = True
                warnings.warn(
                    "SobolevLoss(order>=2) on a model with piecewise-linear activations "
                    "(ReLU family): its second input derivatives are zero almost everywhere, "
                    "so the order-2 term cannot be fitted. Use a smooth activation "
                    "(softplus, tanh, silu).",
                    UserWarning,
                    stacklevel=3,
                )

    def _derivative_terms(self, y, xg, x, target, n, d, generator) -> list[torch.Tensor]:
        order, m = self.order, y.shape[1]
        sw = target.sample_weight

        def mean(r):
            return weighted_mean(r, sw)

        if self.projections is None:
            J = D._jacobian(y, xg)
            terms = [mean(((J - target.jacobian(x)) ** 2).sum((1, 2)))]
            if order >= 2:
                H = D._hessian_from_jacobian(J, xg)
                terms.append(mean(((H - target.hessian(x)) ** 2).sum((1, 2, 3))))
            return terms
        sums = [0.0] * order
        for _ in range(self.projections):
            # Order 1 on the output side needs no input direction: draw none.
            if self.side == "input" or order >= 2:
                v = sphere(n, d, like=x, generator=generator)
            if self.side == "input":
                sums[0] = sums[0] + d * mean(((D._jvp(y, xg, v) - target.jvp(x, v)) ** 2).sum(1))
                if order >= 2:
                    r = D._hvp(y, xg, v) - target.hvp(x, v)
                    sums[1] = sums[1] + d * mean((r**2).sum((1, 2)))
            else:
                u = sphere(n, m, like=x, generator=generator)
                uJ = D._vjp(y, xg, u)
                sums[0] = sums[0] + m * mean(((uJ - target.vjp(x, u)) ** 2).sum(1))
                if order >= 2:
                    r = D._grad(uJ, xg, v) - target.uhv(x, u, v)
                    sums[1] = sums[1] + m * d * mean((r**2).sum(1))
        return [s / self.projections for s in sums]
