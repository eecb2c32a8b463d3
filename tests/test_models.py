"""The activation registry and the models built from it: MLP and MLPEnsemble."""

import numpy as np
import pytest
import torch
from torch import nn

import sobolev as sb
from sobolev.activations import REGISTRY, get_activation
from sobolev.models import ACTIVATIONS

F64 = torch.float64


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_sigma_and_sigma_prime_match_the_module_and_autograd(name):
    act = REGISTRY[name]
    # Away from kinks (ReLU, leaky ReLU and ELU at 0), across softplus' threshold at 20.
    a = torch.cat([torch.linspace(-30, 30, 601, dtype=F64) + 0.05, torch.tensor([19.9, 20.1])])
    a = a.to(F64).requires_grad_(True)
    module_out = act.module()(a)
    torch.testing.assert_close(act.sigma(a), module_out, rtol=0, atol=0)
    (grad,) = torch.autograd.grad(module_out.sum(), a)
    torch.testing.assert_close(act.sigma_prime(a.detach()), grad, rtol=1e-14, atol=1e-15)


def test_relu_family_takes_autograds_derivative_at_the_kink():
    zero = torch.zeros(1, dtype=F64, requires_grad=True)
    for name in ("relu", "leaky_relu"):
        (grad,) = torch.autograd.grad(REGISTRY[name].module()(zero).sum(), zero)
        assert REGISTRY[name].sigma_prime(zero.detach()).item() == grad.item()


def test_models_activations_is_derived_from_the_registry_and_read_only():
    assert dict(ACTIVATIONS) == {k: v.module for k, v in REGISTRY.items()}
    with pytest.raises(TypeError):
        ACTIVATIONS["swish"] = nn.SiLU
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("swish")
    with pytest.raises(ValueError, match="act must be one of"):
        get_activation(None, "act")


def test_deprecated_activation_derivatives_alias_warns():
    import sobolev.ensemble as ens

    with pytest.warns(DeprecationWarning, match="sobolev.activations.REGISTRY"):
        alias = ens.ACTIVATION_DERIVATIVES
    assert alias["tanh"] == (REGISTRY["tanh"].sigma, REGISTRY["tanh"].sigma_prime)


def test_mlp_checks_the_input_width():
    model = sb.MLP(3, 1, (4,), seed=0)
    with pytest.raises(ValueError, match=r"d = in_dim = 3, got shape \(5, 2\)"):
        model(torch.rand(5, 2))
    with pytest.raises(ValueError, match="x has d = 2 columns but the model expects in_dim = 3"):
        sb.fit(model, torch.rand(5, 2), sb.Target.from_arrays(np.zeros(5)), progress=False)


def test_mlp_hidden_int_is_one_hidden_layer():
    a = sb.MLP(2, 1, hidden=8, seed=4)
    b = sb.MLP(2, 1, hidden=(8,), seed=4)
    assert a.hidden == (8,) and len(a) == 3
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert sb.MLP(2, 1, hidden=np.int64(3)).hidden == (3,)
    numpy_dims = sb.MLP(np.int64(2), np.int32(1), (np.int64(4),))
    assert (numpy_dims.in_dim, numpy_dims.out_dim, numpy_dims.hidden) == (2, 1, (4,))
    assert type(numpy_dims.in_dim) is int


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_dim": True}, "in_dim must be an integer >= 1"),
        ({"in_dim": 2.0}, "in_dim must be an integer >= 1"),
        ({"out_dim": 0}, "out_dim must be an integer >= 1"),
        ({"hidden": True}, "hidden must be an integer >= 1"),
        ({"hidden": "64"}, "hidden must be a sequence of positive integers"),
        ({"hidden": None}, "hidden must be a sequence of positive integers"),
        ({"hidden": (4, 2.5)}, r"hidden\[1\] must be an integer >= 1"),
        ({"activation": 3}, "activation must be one of"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": True}, "seed must be an integer >= 0"),
        ({"dtype": torch.int64}, "dtype must be a floating torch.dtype"),
        ({"dtype": "float64"}, "dtype must be a floating torch.dtype"),
    ],
)
def test_mlp_bad_arguments_are_named(kwargs, message):
    args = {"in_dim": 2, "out_dim": 1, "hidden": (4,)} | kwargs
    with pytest.raises(ValueError, match=message):
        sb.MLP(**args)


@pytest.mark.parametrize("m", [1, 2])
def test_linear_ensemble_hidden_empty(m):
    ens = sb.MLPEnsemble.from_seeds(3, m, (), "tanh", [0, 1], dtype=F64)
    x = torch.rand(2, 5, 3, dtype=F64)
    y, jac = ens.value_and_jacobian(x)
    assert y.shape == (2, 5, m) and jac.shape == (2, 5, m, 3)
    for e, model in enumerate(ens.to_models()):
        assert model.hidden == () and len(model) == 1
        y_ref, j_ref = sb.value_and_jacobian(model, x[e], create_graph=False)
        torch.testing.assert_close(y[e], y_ref, rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(jac[e], j_ref, rtol=1e-14, atol=1e-14)
    # A Sobolev fit of a linear model runs and its loss falls.
    dy = torch.ones(2, 5, m, 3, dtype=F64)
    hist = sb.fit_ensemble(ens, x, x.sum(2, keepdim=True).expand(2, 5, m), dy, steps=50, lr=1e-1,
                           progress=False)  # fmt: skip
    assert (hist["total"][-1] < 0.1 * hist["total"][0]).all()


def test_ensemble_layers_are_the_layer_matrices():
    ens = sb.MLPEnsemble.from_seeds(2, 1, (4, 3), "relu", [0, 1, 2])
    assert [tuple(w.shape) for w in ens.layers] == [(3, 2, 4), (3, 4, 3), (3, 3, 1)]
    copy = sb.MLPEnsemble(list(ens.layers), list(ens.biases), "relu")
    x = torch.rand(6, 2)
    torch.testing.assert_close(copy(x), ens(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("layers", "biases", "message"),
    [
        ([], [], "non-empty sequences of equal length"),
        ([np.zeros((1, 2, 3))], [np.zeros((1, 1, 3))], "must hold torch Tensors"),
        ([torch.zeros(2, 3)], [torch.zeros(1, 3)], r"layers\[0\] must have shape \(E, in, out\)"),
        ([torch.zeros(1, 2, 3)], [torch.zeros(1, 3)], r"biases\[0\] must have shape \(1, 1, 3\)"),
        (
            [torch.zeros(1, 2, 3), torch.zeros(1, 4, 1)],
            [torch.zeros(1, 1, 3), torch.zeros(1, 1, 1)],
            r"layers\[1\] has input width 4 but layers\[0\] has output width 3",
        ),
    ],
)
def test_ensemble_bad_layers_are_named(layers, biases, message):
    with pytest.raises(ValueError, match=message):
        sb.MLPEnsemble(layers, biases)


def test_ensemble_other_bad_arguments_are_named():
    ens = sb.MLPEnsemble.from_seeds(2, 1, (4,), "relu", [0, 1])
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        sb.MLPEnsemble.from_seeds(2, 1, (4,), "relu", [0, True])
    with pytest.raises(ValueError, match="hidden must be a sequence"):
        sb.MLPEnsemble.from_seeds(2, 1, "4", "relu", [0])
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        ens.predict(torch.rand(3, 2), chunk=0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, d\) or \(E, N, d\)"):
        ens(torch.rand(3, 5))
    x = torch.rand(2, 4, 2)
    y = torch.rand(2, 4, 1)
    for kw, message in [
        ({"seed": None}, "seed must be a non-negative integer, got None"),
        ({"lr": True}, "lr must be a positive finite number"),
        ({"steps": 2.0}, "steps must be an integer >= 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"schedule": "linear"}, "schedule must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            sb.fit_ensemble(ens, x, y, weights=(1.0, 0.0), progress=False, **kw)
    with pytest.raises(ValueError, match="ensemble must be an MLPEnsemble"):
        sb.fit_ensemble(sb.MLP(2, 1), x, y)


def test_ensemble_and_standardizer_are_exported():
    import sobolev.ensemble
    import sobolev.standardize

    assert sb.MLPEnsemble is sobolev.ensemble.MLPEnsemble
    assert sb.fit_ensemble is sobolev.ensemble.fit_ensemble
    assert sb.Standardizer is sobolev.standardize.Standardizer
    assert {"MLPEnsemble", "fit_ensemble", "Standardizer"} <= set(sb.__all__)
    for name in ("MLPEnsemble", "fit_ensemble", "Standardizer"):
        assert name in sb.__doc__
