"""Theorem 1, constructive in 1-D: one-hidden-layer ReLU networks close in W^{1,p}.

The network is the piecewise-linear interpolant of ``f`` at ``n`` equispaced knots
``a = t_0 < ... < t_{n-1} = b``, written exactly as

    h(x) = f(t_0) - c_0 H + c_0 ReLU(x - t_0 + H) + sum_{j=1}^{n-2} c_j ReLU(x - t_j),
    c_0 = s_0,  c_j = s_j - s_{j-1},  s_j = (f(t_{j+1}) - f(t_j)) / (t_{j+1} - t_j),

so the first unit supplies the linear part on [a, b]. Its kink sits at ``a - H``
rather than ``a`` so that autograd (``ReLU'(0) = 0``) gives ``h'(a) = s_0``. For
``f`` in C^2,
``|f - h|_inf <= |f''|_inf H^2 / 8`` and ``|f' - h'|_inf <= |f''|_inf H`` with
``H = (b - a)/(n - 1)``, so the W^{1,inf} and W^{1,2} distances fall as O(1/n).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sobolev_lab.theory.norms import sobolev_distance


def relu_interpolant_1d(
    f: Callable[[np.ndarray], np.ndarray], a: float, b: float, n_knots: int
) -> torch.nn.Sequential:
    """Explicit ``Linear(1, n-1) -> ReLU -> Linear(n-1, 1)`` interpolating ``f`` at knots.

    Parameters
    ----------
    f : callable
        Vectorised numpy function, (m,) -> (m,).
    a, b : float
        Interval, ``a < b``.
    n_knots : int
        Number of equispaced knots, ``>= 2`` (``n_knots - 1`` hidden units).

    Returns
    -------
    torch.nn.Sequential
        float64 network mapping (N, 1) -> (N, 1).
    """
    if not a < b:
        raise ValueError(f"need a < b; got a={a}, b={b}")
    if int(n_knots) != n_knots or n_knots < 2:
        raise ValueError(f"n_knots must be an integer >= 2; got {n_knots!r}")
    knots = np.linspace(a, b, int(n_knots))
    values = np.asarray(f(knots), dtype=np.float64)
    if values.shape != knots.shape or not np.all(np.isfinite(values)):
        raise ValueError("f must map (m,) knots to (m,) finite values")
    slopes = np.diff(values) / np.diff(knots)
    out_weights = np.concatenate([slopes[:1], np.diff(slopes)])
    hidden = torch.nn.Linear(1, len(slopes), dtype=torch.float64)
    output = torch.nn.Linear(len(slopes), 1, dtype=torch.float64)
    with torch.no_grad():
        hidden.weight.fill_(1.0)
        step = knots[1] - knots[0]
        biases = -knots[:-1]
        biases[0] += step
        hidden.bias.copy_(torch.from_numpy(biases))
        output.weight.copy_(torch.from_numpy(out_weights)[None, :])
        output.bias.fill_(values[0] - out_weights[0] * step)
    return torch.nn.Sequential(hidden, torch.nn.ReLU(), output)


def convergence_table(
    f_torch: Callable,
    a: float,
    b: float,
    n_knots: list[int],
    f_numpy: Callable[[np.ndarray], np.ndarray] | None = None,
    n_quad: int = 8192,
) -> list[dict]:
    """W^{1,inf} and W^{1,2} distances of the interpolating network for each knot count.

    Parameters
    ----------
    f_torch : callable
        ``f`` on torch tensors (N, 1) -> (N,), used for the distance (autodiff gives f').
    a, b : float
    n_knots : list of int
    f_numpy : callable, optional
        ``f`` on numpy (m,) for the knots; defaults to ``f_torch`` through torch.
    n_quad : int
        Gauss points for the L^2 parts: h' jumps at the knots, so many are needed.

    Returns
    -------
    list of dict
        Keys ``n_knots``, ``w1inf``, ``w12``.
    """
    if f_numpy is None:

        def f_numpy(t):
            with torch.no_grad():
                return f_torch(torch.from_numpy(t)[:, None]).numpy()

    rows = []
    for n in n_knots:
        net = relu_interpolant_1d(f_numpy, a, b, n)
        dom = [(a, b)]
        rows.append(
            {
                "n_knots": int(n),
                "w1inf": sobolev_distance(net, f_torch, dom, k=1, p=np.inf),
                "w12": sobolev_distance(net, f_torch, dom, k=1, p=2, n_per_dim=n_quad),
            }
        )
    return rows


def fitted_rate(n: list[int] | np.ndarray, errors: list[float] | np.ndarray) -> float:
    """Least-squares slope of ``log(error)`` against ``log(n)`` (about -1 for O(1/n))."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(errors)), 1)[0])
