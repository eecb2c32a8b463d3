"""Shared pieces of the approx studies: target scaling, training data, error norms.

Networks are trained in scaled coordinates, ``u = (x - c) / h`` in ``[-1, 1]^d`` and
``t = (f(x) - mu) / s``, where ``c, h`` come from the target's domain and ``mu, s``
from the target's values on 4096 fixed Sobol points (a property of the target, the
same for every training-set size): the affine part is a
:class:`sobolev.standardize.Standardizer` built with ``from_bounds``, which also maps
gradients and Hessians by the chain rule. The same points give the mean squared scaled
gradient used by the "balanced" Sobolev weighting. Errors are measured in the original coordinates
on the whole domain with :mod:`sobolev_lab.theory.norms`, by wrapping each trained network as
``x -> mu + s * net((x - c) / h)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import nn

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev.standardize import Standardizer
from sobolev_lab.theory.functions import BenchmarkFunction, get
from sobolev_lab.theory.norms import sobolev_distance, sobolev_norm

__all__ = [
    "METRICS",
    "ScaledNetwork",
    "Scaling",
    "check_training_fields",
    "errors_of",
    "scaled_data",
    "scaling_of",
    "target_function",
    "target_norms",
]

#: Metric name -> (k, p) of the Sobolev norm W^{k,p}.
METRICS: dict[str, tuple[int, float]] = {
    "l2": (0, 2.0),
    "w12": (1, 2.0),
    "w1inf": (1, math.inf),
}


@dataclass(frozen=True)
class Scaling:
    """Affine maps between original and training coordinates, and the derivative scales.

    Attributes
    ----------
    standardizer : Standardizer
        ``u = (x - center) / half``, ``t = (f - mean) / std`` and the chain rule for
        ``dt/du`` and ``d2t/du2``.
    grad_sq_mean, hess_sq_mean : float
        Means of ``|dt/du|^2`` and ``|d2t/du2|_F^2`` over the same points: the scales
        of the order-1 and order-2 terms (study logic, not part of the standardisation).
    """

    standardizer: Standardizer
    grad_sq_mean: float
    hess_sq_mean: float

    @property
    def center(self) -> np.ndarray:
        """Domain centre, shape (d,)."""
        return self.standardizer.x_shift

    @property
    def half(self) -> np.ndarray:
        """Domain half-widths, shape (d,)."""
        return self.standardizer.x_scale

    @property
    def mean(self) -> float:
        """Mean of the target's values on the Sobol points."""
        return float(self.standardizer.y_shift[0])

    @property
    def std(self) -> float:
        """Standard deviation of the target's values on the Sobol points."""
        return float(self.standardizer.y_scale[0])


def check_training_fields(config: Any) -> None:
    """Validate the training fields both approx configs share.

    ``seeds`` (non-empty, non-negative ints), ``steps``, ``lr``, ``schedule`` and
    ``norm_quality``; raises ``ValueError`` naming the field.
    """
    if not config.seeds:
        raise ValueError("seeds: need at least one seed")
    for s in config.seeds:
        check_nonnegative_int(s, "seeds")
    check_positive_int(config.steps, "steps")
    if not (isinstance(config.lr, float) and 0 < config.lr < math.inf):
        raise ValueError(f"lr must be a positive finite float, got {config.lr!r}")
    if config.schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {config.schedule!r}")
    if config.norm_quality not in ("low", "high"):
        raise ValueError(f"norm_quality must be 'low' or 'high', got {config.norm_quality!r}")


def target_function(name: str, dim: int) -> BenchmarkFunction:
    """Registry function ``name`` in dimension ``dim`` (clear error if not allowed)."""
    try:
        return get(name, dim=dim)
    except KeyError as exc:
        raise ValueError(f"function: {exc.args[0]}") from None
    except ValueError as exc:
        raise ValueError(f"function {name!r}, dim {dim}: {exc}") from None


@cache
def scaling_of(name: str, dim: int) -> Scaling:
    """Scaling of target ``name`` in ``dim`` dimensions (see module docstring)."""
    from scipy.stats import qmc

    f = target_function(name, dim)
    lo, hi = f.domain
    unit = qmc.Sobol(d=dim, scramble=True, seed=12345).random_base2(12)
    x = lo + (hi - lo) * unit
    values = f.value(x)
    std = float(values.std())
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"target {name!r} (dim {dim}) is constant or non-finite on its domain")
    st = Standardizer.from_bounds(lo, hi, values)
    _, _, dt, d2t = st.transform(dy=f.grad(x), d2y=f.hessian(x))
    grad_sq = float((dt**2).sum(1).mean())
    hess_sq = float((d2t**2).sum((1, 2)).mean())
    return Scaling(st, grad_sq, hess_sq)


def scaled_data(
    name: str, dim: int, x: np.ndarray, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Training data in scaled coordinates.

    Parameters
    ----------
    name, dim : target
    x : ndarray, shape (N, d)
        Points in the original domain.
    order : {0, 1, 2}
        Highest derivative order returned.

    Returns
    -------
    u : ndarray (N, d)
    t : ndarray (N,)
    dt : ndarray (N, d) or None
        ``dt/du = grad f * half / std``.
    d2t : ndarray (N, d, d) or None
    """
    f, sc = target_function(name, dim), scaling_of(name, dim)
    return sc.standardizer.transform(
        x,
        f.value(x),
        f.grad(x) if order >= 1 else None,
        f.hessian(x) if order >= 2 else None,
    )


class ScaledNetwork(nn.Module):
    """``x -> mean + std * net((x - center) / half)`` for a network trained on scaled data."""

    def __init__(self, net: nn.Module, scaling: Scaling) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("x_center", torch.as_tensor(scaling.center, dtype=torch.float64))
        self.register_buffer("x_half", torch.as_tensor(scaling.half, dtype=torch.float64))
        self.mean, self.std = scaling.mean, scaling.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net((x - self.x_center.to(x.dtype)) / self.x_half.to(x.dtype))
        return self.mean + self.std * out.reshape(x.shape[0])


def _norm_options(dim: int, metric: str, quality: str) -> dict[str, Any]:
    p = METRICS[metric][1]
    if p == math.inf:
        if dim <= 3:
            # "high" keeps theory.norms' defaults (4097 / 257^2 / 41^3 grid points).
            return {"n_per_dim": {1: 1025, 2: 129, 3: 33}[dim]} if quality == "low" else {}
        return {}
    if dim <= 3:
        table = {"low": {1: 256, 2: 48, 3: 16}, "high": {1: 1024, 2: 128, 3: 32}}
        return {"n_per_dim": table[quality][dim]}
    return {"log2_n": 10 if quality == "low" else 12, "replicates": 4}


def _distance(f, g, dim: int, metric: str, quality: str) -> float:
    k, p = METRICS[metric]
    value = sobolev_distance(f, g, k=k, p=p, seed=0, **_norm_options(dim, metric, quality))
    if not math.isfinite(value):
        raise FloatingPointError(f"{metric} distance is not finite ({value})")
    return float(value)


@cache
def target_norms(name: str, dim: int, metrics: tuple[str, ...], quality: str) -> dict[str, float]:
    """``|f|`` in each metric, for relative errors."""
    f = target_function(name, dim)
    out = {}
    for m in metrics:
        k, p = METRICS[m]
        out[m] = float(sobolev_norm(f, k=k, p=p, seed=0, **_norm_options(dim, m, quality)))
    return out


def errors_of(
    model: nn.Module, name: str, dim: int, metrics: tuple[str, ...], quality: str = "high"
) -> dict[str, float]:
    """Absolute and relative distances of ``model`` (original coordinates) to the target.

    Returns ``{metric: |f - model|, metric + "_rel": |f - model| / |f|}``; raises
    FloatingPointError rather than returning a non-finite number.
    """
    f = target_function(name, dim)
    norms = target_norms(name, dim, tuple(metrics), quality)
    out = {}
    for m in metrics:
        out[m] = _distance(model, f, dim, m, quality)
        out[m + "_rel"] = out[m] / norms[m]
    return out
