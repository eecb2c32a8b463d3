"""Training targets: values and input derivatives, from data or from a function."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sobolev import derivatives as D
from sobolev._validation import as_tensor, check_finite

__all__ = ["Target"]

# Second derivatives from autodiff in float32 are symmetric to about 1e-7 relative;
# anything beyond this is a mistake in the data, not round-off.
_SYMMETRY_RTOL = 1e-5


def weighted_mean(r: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-sample terms ``r`` (N,), weighted by ``w`` (N,) when given.

    A batch whose weights are all zero carries no information: its mean is 0 (with the
    graph kept), not 0 / 0.
    """
    if w is None:
        return r.mean()
    w = w.to(device=r.device, dtype=r.dtype)
    total = w.sum()
    if float(total) == 0.0:
        return (r * w).sum()
    return (r * w).sum() / total


def _check_symmetric(d2y: torch.Tensor) -> None:
    gap = (d2y - d2y.transpose(-1, -2)).abs()
    worst = float(gap.max()) if gap.numel() else 0.0
    size = float(d2y.abs().max()) if d2y.numel() else 0.0
    if worst > _SYMMETRY_RTOL * max(size, torch.finfo(d2y.dtype).tiny):
        i, k, a, b = (int(j) for j in torch.unravel_index(gap.argmax(), gap.shape))
        raise ValueError(
            f"d2y must be symmetric in its last two axes (second derivatives commute), but "
            f"d2y[{i}, {k}, {a}, {b}] - d2y[{i}, {k}, {b}, {a}] = "
            f"{float(d2y[i, k, a, b] - d2y[i, k, b, a]):.3g} (largest |d2y| {size:.3g}); "
            "symmetrise it, e.g. (d2y + d2y.swapaxes(-1, -2)) / 2"
        )


def _train_mode_dropout(fn: Any) -> str | None:
    """Name of a dropout module of ``fn`` in training mode with p > 0, else None."""
    if not isinstance(fn, nn.Module):
        return None
    for name, module in fn.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            return name or type(module).__name__
    return None


class Target:
    """Values and input derivatives that a model is trained to match.

    Build one with :meth:`from_arrays` (derivatives known as data) or
    :meth:`from_function` (a torch function or teacher network whose derivatives are
    computed by autodiff). Array targets are indexed with ``target[idx]`` to select
    a minibatch; function targets are evaluated at whatever inputs they are given.

    Shapes follow the library convention: values (N, m), first derivatives
    (N, m, d), second derivatives (N, m, d, d). Scalar targets may be given as
    ``y`` (N,), ``dy`` (N, d), ``d2y`` (N, d, d); they are stored with m = 1.
    Array targets may carry per-sample weights (N,), which :class:`SobolevLoss`
    uses for a weighted mean over samples; they travel with ``target[idx]``.

    A function target evaluates ``fn`` in ``fn``'s own dtype and device (those of its
    parameters) and returns results in the dtype and device of the inputs it is given.
    """

    def __init__(
        self,
        y: torch.Tensor | None = None,
        dy: torch.Tensor | None = None,
        d2y: torch.Tensor | None = None,
        fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        self.y, self.dy, self.d2y, self.fn = y, dy, d2y, fn
        self.sample_weight = sample_weight
        self._scales: tuple[float, ...] | None = None
        self._warned_dropout = False

    # -- constructors -------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls, y: Any, dy: Any = None, d2y: Any = None, *, sample_weight: Any = None
    ) -> Target:
        """Target from arrays (numpy or torch).

        Parameters
        ----------
        y : array, shape (N, m) or (N,)
        dy : array, shape (N, m, d), or (N, d) when m = 1; optional
        d2y : array, shape (N, m, d, d), or (N, d, d) when m = 1; optional
            Must be symmetric in its last two axes.
        sample_weight : array, shape (N,), optional
            Non-negative per-sample weights, not all zero.

        Raises
        ------
        ValueError
            On no samples, shapes that disagree with each other, non-finite entries, a
            non-symmetric ``d2y`` or invalid weights.
        """
        yt = as_tensor(y, "y")
        if yt.ndim == 1:
            yt = yt.unsqueeze(1)
        if yt.ndim != 2:
            raise ValueError(f"y must have shape (N, m) or (N,), got shape {tuple(yt.shape)}")
        if yt.shape[0] == 0 or yt.shape[1] == 0:
            raise ValueError(
                f"y must hold at least one sample and one output, got shape {tuple(yt.shape)}"
            )
        check_finite(yt, "y")
        n, m = yt.shape
        dyt = d2yt = None
        d = None
        if dy is not None:
            dyt = as_tensor(dy, "dy").to(yt.dtype)
            if dyt.ndim == 2 and m == 1:
                dyt = dyt.unsqueeze(1)
            if dyt.ndim != 3 or dyt.shape[:2] != (n, m):
                raise ValueError(
                    f"dy must have shape (N, m, d) = ({n}, {m}, d)"
                    + (f" or (N, d) = ({n}, d)" if m == 1 else "")
                    + f" to match y of shape {tuple(yt.shape)}, got shape {tuple(dyt.shape)}"
                )
            check_finite(dyt, "dy")
            d = dyt.shape[2]
        if d2y is not None:
            d2yt = as_tensor(d2y, "d2y").to(yt.dtype)
            if d2yt.ndim == 3 and m == 1:
                d2yt = d2yt.unsqueeze(1)
            dd = d if d is not None else (d2yt.shape[-1] if d2yt.ndim == 4 else -1)
            if d2yt.ndim != 4 or tuple(d2yt.shape) != (n, m, dd, dd):
                raise ValueError(
                    f"d2y must have shape (N, m, d, d) = ({n}, {m}, d, d)"
                    + (" or (N, d, d)" if m == 1 else "")
                    + (f" with d = {d} as in dy" if d is not None else "")
                    + f", got shape {tuple(d2yt.shape)}"
                )
            check_finite(d2yt, "d2y")
            _check_symmetric(d2yt)
        wt = None
        if sample_weight is not None:
            wt = as_tensor(sample_weight, "sample_weight").to(yt.dtype)
            if tuple(wt.shape) != (n,):
                raise ValueError(
                    f"sample_weight must have shape (N,) = ({n},) to match y, "
                    f"got shape {tuple(wt.shape)}"
                )
            check_finite(wt, "sample_weight")
            if bool((wt < 0).any()) or float(wt.sum()) <= 0:
                raise ValueError(
                    "sample_weight must be >= 0 with a positive sum, got "
                    f"min {float(wt.min()):.3g} and sum {float(wt.sum()):.3g}"
                )
        return cls(yt, dyt, d2yt, sample_weight=wt)

    @classmethod
    def from_function(cls, fn: Callable[[torch.Tensor], torch.Tensor]) -> Target:
        """Target given by a differentiable torch function or a teacher network.

        Parameters
        ----------
        fn : callable or nn.Module
            Maps inputs (N, d) to outputs (N, m) or (N,). Its derivatives of any order
            are obtained by autodiff at the training inputs; they are detached, so the
            teacher is never trained through the loss.
        """
        if not callable(fn):
            raise ValueError(f"fn must be callable, got {type(fn).__name__}")
        return cls(fn=fn)

    # -- properties -----------------------------------------------------------------
    @property
    def is_function(self) -> bool:
        """True for targets given by a function rather than arrays."""
        return self.fn is not None

    @property
    def max_order(self) -> int | None:
        """Highest derivative order available (None: any order, by autodiff)."""
        if self.is_function:
            return None
        return 2 if self.d2y is not None else 1 if self.dy is not None else 0

    def __len__(self) -> int:
        if self.is_function:
            raise TypeError("a function target has no length")
        return self.y.shape[0]

    def __getitem__(self, idx: Any) -> Target:
        """Select samples of an array target (function targets return themselves)."""
        if self.is_function:
            return self
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        sub = Target(
            self.y[idx],
            None if self.dy is None else self.dy[idx],
            None if self.d2y is None else self.d2y[idx],
            sample_weight=None if self.sample_weight is None else self.sample_weight[idx],
        )
        sub._scales = self._scales if self._scales is not None else self.scales()
        return sub

    def __repr__(self) -> str:
        if self.is_function:
            return f"Target.from_function({self.fn!r})"
        parts = [f"y={tuple(self.y.shape)}"]
        if self.dy is not None:
            parts.append(f"dy={tuple(self.dy.shape)}")
        if self.d2y is not None:
            parts.append(f"d2y={tuple(self.d2y.shape)}")
        if self.sample_weight is not None:
            parts.append(f"sample_weight={tuple(self.sample_weight.shape)}")
        return f"Target.from_arrays({', '.join(parts)})"

    # -- evaluation -----------------------------------------------------------------
    def _fn_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` detached and cast for ``fn``; warns once on train-mode dropout."""
        if not self._warned_dropout:
            name = _train_mode_dropout(self.fn)
            if name is not None:
                self._warned_dropout = True
                warnings.warn(
                    f"the target function contains dropout module {name!r} in training mode: "
                    "every evaluation draws new masks, so its values and derivatives come "
                    "from different networks. Call fn.eval() for a deterministic teacher.",
                    UserWarning,
                    stacklevel=4,
                )
        return D._as_model_input(self.fn, x.detach())

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """Target values at ``x`` as (N, m), on ``x``'s device and dtype."""
        if self.is_function:
            with torch.no_grad():
                y = self.fn(self._fn_input(x))
            return (y.unsqueeze(1) if y.ndim == 1 else y).detach().to(x.device, x.dtype)
        return self.y.to(device=x.device, dtype=x.dtype)

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Target Jacobians at ``x`` as (N, m, d)."""
        if self.is_function:
            J = D.value_and_jacobian(self.fn, self._fn_input(x), create_graph=False)[1]
            return J.to(x.device, x.dtype)
        return self._array("dy", 1).to(device=x.device, dtype=x.dtype)

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        """Target Hessians at ``x`` as (N, m, d, d)."""
        if self.is_function:
            return D.hessian(self.fn, self._fn_input(x), create_graph=False).to(x.device, x.dtype)
        return self._array("d2y", 2).to(device=x.device, dtype=x.dtype)

    def jvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``J v`` per sample: (N, m) for directions ``v`` (N, d)."""
        if self.is_function:
            xf = self._fn_input(x)
            Jv = D.value_and_jvp(self.fn, xf, v.to(xf.device, xf.dtype), create_graph=False)[1]
            return Jv.to(x.device, x.dtype)
        return torch.einsum("nmd,nd->nm", self.jacobian(x), v)

    def vjp(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``u^T J`` per sample: (N, d) for directions ``u`` (N, m)."""
        if self.is_function:
            xf = self._fn_input(x)
            uJ = D.value_and_vjp(self.fn, xf, u.to(xf.device, xf.dtype), create_graph=False)[1]
            return uJ.to(x.device, x.dtype)
        return torch.einsum("nm,nmd->nd", u, self.jacobian(x))

    def hvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``H_k v`` per sample and output: (N, m, d)."""
        if self.is_function:
            xf = self._fn_input(x)
            Hv = D.hvp(self.fn, xf, v.to(xf.device, xf.dtype), create_graph=False)
            return Hv.to(x.device, x.dtype)
        return torch.einsum("nmab,nb->nma", self.hessian(x), v)

    def uhv(self, x: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``sum_k u_k H_k v`` per sample: (N, d)."""
        if self.is_function:
            xf = self._fn_input(x)
            u, v = (t.to(xf.device, xf.dtype) for t in (u, v))
            return D.uhv(self.fn, xf, u, v, create_graph=False).to(x.device, x.dtype)
        return torch.einsum("nm,nmab,nb->na", u, self.hessian(x), v)

    def scales(self, x: torch.Tensor | None = None, order: int = 2) -> tuple[float, ...]:
        """Mean squared size of each order, used by ``weights="auto"``.

        ``s0`` is the variance of the values (summed over outputs), ``s1`` and ``s2``
        the mean squared Frobenius norms of the first and second derivatives, weighted
        by ``sample_weight`` when the target has one. Array targets use all their
        samples; function targets use the first inputs they are asked about (up to
        ``order``) and keep those numbers, so the weights stay fixed during training:
        call this (or :meth:`SobolevLoss.resolve_weights`) once on the full training
        inputs before training on minibatches.
        """
        if self._scales is None or (len(self._scales) < order + 1 and self.is_function):
            if self.is_function:
                if x is None:
                    raise ValueError("a function target needs inputs x to estimate its scales")
                y = self.values(x)
                J = self.jacobian(x) if order >= 1 else None
                H = self.hessian(x) if order >= 2 else None
            else:
                y, J, H = self.y, self.dy, self.d2y
            w = self.sample_weight
            if w is not None:
                mean = (y * w[:, None]).sum(0, keepdim=True) / w.sum()
            else:
                mean = y.mean(0, keepdim=True)
            s = [float(weighted_mean(((y - mean) ** 2).sum(1), w))]
            if J is not None:
                s.append(float(weighted_mean((J**2).sum((1, 2)), w)))
                if H is not None:
                    s.append(float(weighted_mean((H**2).sum((1, 2, 3)), w)))
            self._scales = tuple(s)
        return self._scales

    def _array(self, attr: str, order: int) -> torch.Tensor:
        value = getattr(self, attr)
        if value is None:
            raise ValueError(
                f"order {order} needs {attr} in Target.from_arrays(y, dy, d2y), "
                f"but {attr} was not given"
            )
        return value
