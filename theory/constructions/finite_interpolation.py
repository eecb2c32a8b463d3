"""Proposition (finite-set interpolation): zero Sobolev training loss is reachable.

Given distinct points ``x_i`` in R^d, values ``f_i`` and gradients ``g_i``, the network

    h(x) = sum_i clip(A_i(x), -M b_i(x), M b_i(x)),    A_i(x) = f_i + g_i . (x - x_i),

interpolates values and gradients exactly. ``b_i`` is a ReLU bump in the l1 distance,

    b_i(x) = clamp_[0,1](2 - (4/delta) |x - x_i|_1),   delta = min_{i != j} |x_i - x_j|_1,

equal to 1 on ``|x - x_i|_1 <= delta/4`` and 0 on ``|x - x_i|_1 >= delta/2``, hence
0 near every other point. With ``M > max |A_i|`` on the plateaus the clip is inactive
near ``x_i`` (h = A_i there) and forces 0 near ``x_j``. All operations are ReLU
expressions: ``|t| = ReLU(t) + ReLU(-t)``, ``clamp_[0,1](r) = ReLU(r) - ReLU(r - 1)``,
``max(A, -Mb) = ReLU(A + Mb) - Mb``, ``min(m, Mb) = m - ReLU(m - Mb)``. Affine
quantities cross a layer as ``ReLU(u + c) - ReLU(-u - c) - c`` with an offset ``c`` that
keeps the ReLU kink away from every data point, so autograd's convention
``ReLU'(0) = 0`` never meets a data point and gradients are exact.

The result is a plain ``Sequential`` of 4 hidden ReLU layers of widths
``2n(d+1)``, ``4n``, ``2n``, ``2n`` (n points).
"""

from __future__ import annotations

import numpy as np
import torch


def interpolating_relu_network(
    points: np.ndarray, values: np.ndarray, gradients: np.ndarray
) -> torch.nn.Sequential:
    """Build a ReLU network h with ``h(x_i) = f_i`` and ``grad h(x_i) = g_i``.

    Parameters
    ----------
    points : numpy.ndarray, shape (n, d)
        Distinct points.
    values : numpy.ndarray, shape (n,)
    gradients : numpy.ndarray, shape (n, d)

    Returns
    -------
    torch.nn.Sequential
        float64, maps (N, d) -> (N, 1).
    """
    x = np.asarray(points, dtype=np.float64)
    f = np.asarray(values, dtype=np.float64)
    g = np.asarray(gradients, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"points must have shape (n, d) with n >= 1; got {x.shape}")
    n, d = x.shape
    if f.shape != (n,):
        raise ValueError(f"values must have shape ({n},); got {f.shape}")
    if g.shape != (n, d):
        raise ValueError(f"gradients must have shape ({n}, {d}); got {g.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(f)) and np.all(np.isfinite(g))):
        raise ValueError("points, values and gradients must be finite")
    l1 = np.abs(x[:, None, :] - x[None, :, :]).sum(-1)
    delta = np.min(l1 + np.diag(np.full(n, np.inf))) if n > 1 else 1.0
    if not delta > 0:
        raise ValueError("points must be distinct")

    # A_i(x_j) for all pairs: offsets must keep every ReLU kink off the data points.
    affine_at_points = f[:, None] + np.einsum("ik,ijk->ij", g, x[None, :, :] - x[:, None, :])
    offset = 1.0 + np.max(np.abs(affine_at_points))
    big_m = 2.0 * (np.max(np.abs(f)) + np.max(np.abs(g)) * delta / 4) + 1.0
    scale = 4.0 / delta

    # Layer 1: u_{ik}^{+-} = ReLU(+-(x_k - x_ik)), P_i^{+-} = ReLU(+-(A_i(x) + offset)).
    w1 = np.zeros((2 * n * d + 2 * n, d))
    b1 = np.zeros(2 * n * d + 2 * n)
    for i in range(n):
        for k in range(d):
            row = 2 * (i * d + k)
            w1[row, k], b1[row] = 1.0, -x[i, k]
            w1[row + 1, k], b1[row + 1] = -1.0, x[i, k]
        row = 2 * n * d + 2 * i
        w1[row], b1[row] = g[i], f[i] - g[i] @ x[i] + offset
        w1[row + 1], b1[row + 1] = -g[i], -(f[i] - g[i] @ x[i] + offset)

    # Layer 2: ReLU(r_i), ReLU(r_i - 1) with r_i = 2 - scale |x - x_i|_1; P_i passed on.
    w2 = np.zeros((4 * n, w1.shape[0]))
    b2 = np.zeros(4 * n)
    for i in range(n):
        cols = slice(2 * i * d, 2 * (i + 1) * d)
        w2[4 * i, cols], b2[4 * i] = -scale, 2.0
        w2[4 * i + 1, cols], b2[4 * i + 1] = -scale, 1.0
        p_plus, p_minus = 2 * n * d + 2 * i, 2 * n * d + 2 * i + 1
        w2[4 * i + 2, p_plus], w2[4 * i + 2, p_minus] = 1.0, -1.0
        w2[4 * i + 3, p_plus], w2[4 * i + 3, p_minus] = -1.0, 1.0

    # Layer 3: q_i = ReLU(A_i + M b_i) and ReLU(b_i) = b_i,
    # with b_i = L2[4i] - L2[4i+1] and A_i = L2[4i+2] - L2[4i+3] - offset.
    w3 = np.zeros((2 * n, 4 * n))
    b3 = np.zeros(2 * n)
    for i in range(n):
        w3[2 * i, 4 * i : 4 * i + 4] = [big_m, -big_m, 1.0, -1.0]
        b3[2 * i] = -offset
        w3[2 * i + 1, 4 * i : 4 * i + 2] = [1.0, -1.0]

    # Layer 4: with m_i = q_i - M b_i = max(A_i, -M b_i) >= -M:
    # ReLU(m_i + M) = m_i + M and ReLU(m_i - M b_i).
    w4 = np.zeros((2 * n, 2 * n))
    b4 = np.zeros(2 * n)
    for i in range(n):
        w4[2 * i, 2 * i : 2 * i + 2] = [1.0, -big_m]
        b4[2 * i] = big_m
        w4[2 * i + 1, 2 * i : 2 * i + 2] = [1.0, -2.0 * big_m]

    # Output: sum_i min(m_i, M b_i) = sum_i (m_i + M) - M - ReLU(m_i - M b_i).
    w5 = np.tile([1.0, -1.0], n)[None, :]
    b5 = np.array([-n * big_m])

    layers: list[torch.nn.Module] = []
    for w, b in ((w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def sobolev_training_loss(
    model: torch.nn.Module, points: np.ndarray, values: np.ndarray, gradients: np.ndarray
) -> float:
    """``mean_i (h(x_i) - f_i)^2 + mean_i |grad h(x_i) - g_i|^2`` by torch autograd.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (n, d) -> (n,) or (n, 1) in float64.
    points : numpy.ndarray, shape (n, d)
    values : numpy.ndarray, shape (n,)
    gradients : numpy.ndarray, shape (n, d)
    """
    xt = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    out = model(xt).reshape(-1)
    (grad,) = torch.autograd.grad(out.sum(), xt)
    value_loss = torch.mean((out.detach() - torch.as_tensor(values, dtype=torch.float64)) ** 2)
    grad_err = grad - torch.as_tensor(gradients, dtype=torch.float64)
    return float(value_loss + torch.mean(torch.sum(grad_err**2, dim=1)))
