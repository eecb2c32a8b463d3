"""Initialisation of one-hidden-layer approximators: units spread over the domain.

PyTorch's default initialisation draws a unit's weight and bias from the same small
interval, so in scaled coordinates ``u`` in [-1, 1]^d the transition of a unit
(``w . u + b = 0``: the kink of a ReLU, the centre of a tanh) often lies outside the
domain, and gradient training of ReLU networks from there was measured to settle in a
convex fit (every interior kink bending upwards, relative L^2 error 0.3 at every width
on 1-D Styblinski-Tang, ``results/universal/full-partial``). :func:`spread_init` keeps
the default weights, moves every transition through a uniform random point of the
domain and then fits the output layer to the training values by least squares, so
training starts from the best network with those features. Members of one seed share
the features, the data and therefore the whole initial network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sobolev.ensemble import MLPEnsemble

__all__ = ["spread_init"]


@torch.no_grad()
def spread_init(
    ens: MLPEnsemble,
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    *,
    dy: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    ridge: float = 0.0,
) -> None:
    """Spread the hidden units' transitions over [-1, 1]^d and fit the output layer.

    Values and input gradients are both linear in the output layer, so each member's
    output layer is set to the exact minimiser of that member's own objective
    ``w0 mean |f - y|^2 + w1 mean |grad f - dy|^2`` for the spread features: regular
    and Sobolev members of a seed share the hidden layer and differ in their loss.

    Parameters
    ----------
    ens : MLPEnsemble
        One hidden layer, scalar output, E members; changed in place.
    x : Tensor, shape (E, N, d)
        Scaled training inputs of each member.
    y : Tensor, shape (E, N)
        Scaled training values of each member.
    seeds : sequence of E int
        Seed of each member's transition points (equal seeds: equal points).
    dy : Tensor, shape (E, N, d), optional
        Scaled training gradients (needed where ``weights[:, 1] > 0``).
    weights : Tensor, shape (E, 2), optional
        ``(w0, w1)`` of each member's objective; default ``(1, 0)``: values only.
    ridge : float
        Tikhonov weight of the least-squares fit (0: minimum-norm least squares).
    """
    if len(ens.layers) != 2 or ens.out_dim != 1:
        raise ValueError("spread_init needs a one-hidden-layer ensemble with scalar output")
    e, d, width = ens.layers[0].shape
    if x.shape[0] != e or y.shape != x.shape[:2] or len(seeds) != e:
        raise ValueError(
            f"x (E, N, d), y (E, N) and seeds (E,) must match the ensemble's {e} members; "
            f"got x {tuple(x.shape)}, y {tuple(y.shape)}, {len(seeds)} seeds"
        )
    dtype = ens.layers[0].dtype
    for m, seed in enumerate(seeds):
        g = torch.Generator().manual_seed(7_919 + int(seed))
        centre = torch.rand(width, d, generator=g, dtype=dtype) * 2 - 1
        # The unit's transition passes through its centre: b = -w . c.
        ens.biases[0][m, 0] = -(centre * ens.layers[0][m].T).sum(1)
    w = torch.tensor([[1.0, 0.0]] * e, dtype=dtype) if weights is None else weights.to(dtype)
    if bool((w[:, 1] > 0).any()) and dy is None:
        raise ValueError("dy is required for members with a gradient weight w1 > 0")
    n = x.shape[1]
    pre = torch.baddbmm(ens.biases[0], x.to(dtype), ens.layers[0])  # (E, N, width)
    ones = torch.ones(e, n, 1, dtype=dtype)
    a = w[:, 0, None, None].sqrt() * torch.cat([ens._sigma(pre), ones], 2)  # (E, N, width + 1)
    rhs = w[:, 0, None, None].sqrt() * y.to(dtype).unsqueeze(2)
    if dy is not None:
        # d f / d u_j = sum_k c_k sigma'(pre_k) W_jk: rows (E, N * d, width), bias column 0.
        slope = ens._sigma_prime(pre).unsqueeze(2) * ens.layers[0].unsqueeze(1)
        rows = torch.cat([slope, torch.zeros(e, n, d, 1, dtype=dtype)], 3).reshape(e, n * d, -1)
        # Both terms are means over the N points; the gradient term sums over d.
        a = torch.cat([a, w[:, 1, None, None].sqrt() * rows], 1)
        rhs = torch.cat([rhs, w[:, 1, None, None].sqrt() * dy.to(dtype).reshape(e, n * d, 1)], 1)
    if ridge > 0:
        eye = ridge**0.5 * torch.eye(width + 1, dtype=dtype).expand(e, -1, -1)
        a = torch.cat([a, eye], 1)
        rhs = torch.cat([rhs, torch.zeros(e, width + 1, 1, dtype=dtype)], 1)
    sol = torch.linalg.lstsq(a, rhs, driver="gelsd").solution  # (E, width + 1, 1)
    ens.layers[1].copy_(sol[:, :width])
    ens.biases[1].copy_(sol[:, width:].reshape(e, 1, 1))
