"""The spread initialisation of the approx studies (sobolev_lab.approx.init)."""

import numpy as np
import pytest
import torch

from sobolev.ensemble import MLPEnsemble
from sobolev_lab.approx.init import spread_init


def _objective(ens, x, y, dy, w):
    pred, jac = ens._forward(x, True)
    l0 = ((pred[..., 0] - y) ** 2).mean(1)
    l1 = ((jac[:, :, 0, :] - dy) ** 2).sum(2).mean(1)
    return w[:, 0] * l0 + w[:, 1] * l1


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
@pytest.mark.parametrize("dim", [1, 2])
def test_output_layer_minimises_each_members_own_objective(activation, dim):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(-1, 1, (3, 200, dim)))
    y = torch.sin(3 * x).sum(2)
    dy = 3 * torch.cos(3 * x)
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.05]], dtype=torch.float64)
    ens = MLPEnsemble.from_seeds(dim, 1, [24], activation, [5, 5, 5], dtype=torch.float64)
    spread_init(ens, x, y, [5, 5, 5], dy=dy, weights=w)
    # Every transition w . u + b = 0 passes through a point of [-1, 1]^d ...
    centre = -ens.biases[0][:, 0, :, None] * ens.layers[0].transpose(1, 2)
    centre = centre / (ens.layers[0].transpose(1, 2) ** 2).sum(2, keepdim=True)
    assert bool((centre.abs() <= dim**0.5 + 1e-12).all())
    # ... members of one seed share the hidden layer ...
    torch.testing.assert_close(ens.layers[0][0], ens.layers[0][1], rtol=0, atol=0)
    # ... and the output layer is a stationary point of each member's objective (it is
    # a convex quadratic there), checked by autograd, independently of the lstsq solve.
    ens.zero_grad()
    _objective(ens, x, y, dy, w).sum().backward()
    # (near-collinear smooth features can make the minimum-norm solution large, so the
    # tolerance scales with it)
    scale = 1 + float(ens.layers[1].detach().abs().max())
    for p in (ens.layers[1], ens.biases[1]):
        assert float(p.grad.abs().max()) < 1e-8 * scale
    # The Sobolev members fit different output layers than the value-only one.
    assert float((ens.layers[1][0] - ens.layers[1][1]).detach().abs().max()) > 1e-6


def test_spread_init_beats_default_init_for_relu_in_1d():
    # The measured failure it addresses: default kinks fall outside the domain.
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.uniform(-1, 1, (1, 400, 1)))
    y = (x**4 - x**2)[..., 0]
    default = MLPEnsemble.from_seeds(1, 1, [64], "relu", [0], dtype=torch.float64)
    kinks = -default.biases[0][0, 0] / default.layers[0][0, 0]
    spread = MLPEnsemble.from_seeds(1, 1, [64], "relu", [0], dtype=torch.float64)
    spread_init(spread, x, y, [0])
    inside = -spread.biases[0][0, 0] / spread.layers[0][0, 0]
    assert int((inside.abs() <= 1).sum()) == 64 > int((kinks.abs() <= 1).sum())
    pred = spread.predict(x[0])[0][0, :, 0]
    assert float(((pred - y[0]) ** 2).mean()) < 1e-5


def test_bad_shapes_and_missing_gradients_are_refused():
    ens = MLPEnsemble.from_seeds(1, 1, [4], "tanh", [0, 1], dtype=torch.float64)
    x = torch.zeros(2, 10, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="must match"):
        spread_init(ens, x, torch.zeros(3, 10), [0, 1])
    with pytest.raises(ValueError, match="dy is required"):
        spread_init(ens, x, torch.zeros(2, 10), [0, 1], weights=torch.ones(2, 2))
    deep = MLPEnsemble.from_seeds(1, 1, [4, 4], "tanh", [0], dtype=torch.float64)
    with pytest.raises(ValueError, match="one-hidden-layer"):
        spread_init(deep, x[:1], torch.zeros(1, 10), [0])
