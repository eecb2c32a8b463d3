"""Explicit one-hidden-layer ReLU approximant of a 1-D function (reference curve).

The piecewise-linear interpolant of ``f`` on ``width + 1`` uniform knots
``a = t_0 < ... < t_width = b`` is exactly the ReLU network

.. math::
    h(x) = f(t_0) + \\sum_{j=0}^{\\text{width}-1} c_j \\, \\mathrm{relu}(x - t_j),
    \\qquad c_0 = s_0,\\; c_j = s_j - s_{j-1},

with ``s_j`` the slope on ``[t_j, t_{j+1}]``: a constructive instance of Theorem 1.
For ``f`` in C^2, ``|f - h|_{L^2} = O(width^-2)`` and the derivative error, hence
``|f - h|_{W^{1,p}}``, is ``O(width^-1)``. Built locally because
``theory.constructions`` was empty when this study was written.
"""

from __future__ import annotations

import numpy as np
import torch

from sobolev.models import MLP

__all__ = ["relu_interpolant"]


def relu_interpolant(f, width: int) -> MLP:
    """The interpolant above as a ``sobolev.MLP(1, 1, (width,), "relu")`` in float64.

    Parameters
    ----------
    f : BenchmarkFunction
        1-D target with ``f.domain`` and ``f.value`` (numpy, (N, 1) -> (N,)).
    width : int
        Hidden units (= number of linear pieces), >= 1.

    Returns
    -------
    MLP
        Maps (N, 1) -> (N, 1) in original coordinates.
    """
    if getattr(f, "dim", None) != 1:
        raise ValueError(f"f must be a 1-D function, got dim={getattr(f, 'dim', None)!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    lo, hi = float(f.domain.lower[0]), float(f.domain.upper[0])
    knots = np.linspace(lo, hi, width + 1)
    values = f.value(knots[:, None])
    slopes = np.diff(values) / np.diff(knots)
    coef = np.concatenate([slopes[:1], np.diff(slopes)])
    # The first unit's kink is moved a domain length to the left (with a matching output
    # bias): relu'(0) = 0 in torch would otherwise zero the slope at x = a.
    shift = np.zeros(width)
    shift[0] = hi - lo
    net = MLP(1, 1, (width,), "relu", seed=0, dtype=torch.float64)
    hidden, out = net[0], net[-1]
    with torch.no_grad():
        hidden.weight.copy_(torch.ones(width, 1, dtype=torch.float64))
        hidden.bias.copy_(torch.as_tensor(shift - knots[:-1]))
        out.weight.copy_(torch.as_tensor(coef)[None])
        out.bias.fill_(float(values[0] - coef[0] * shift[0]))
    return net
