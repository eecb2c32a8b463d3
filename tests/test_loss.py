"""SobolevLoss: exact formula by hand, unbiased stochastic estimates, properties, errors."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import sobolev as sb

pytestmark = pytest.mark.usefixtures("float64")


def net(d, m, act="tanh", seed=0, hidden=(10, 10)):
    return sb.MLP(d, m, hidden, act, seed=seed, dtype=torch.float64)


def test_exact_loss_equals_the_formula_by_hand():
    # m(x) = a * x0^2 + b * x1 on two points, target y = 0, dy = 0, d2y = 0
    a, b = 2.0, 3.0

    def model(x):
        return (a * x[:, 0] ** 2 + b * x[:, 1])[:, None]

    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    target = sb.Target.from_arrays(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2, 2)))
    values = (a * x[:, 0] ** 2 + b * x[:, 1]) ** 2  # 64, 12.25
    grads = (2 * a * x[:, 0]) ** 2 + b**2  # 25, 25
    hess = torch.full((2,), (2 * a) ** 2)  # 16
    loss = sb.SobolevLoss(order=2, weights=[1.0, 0.5, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(model, x, target)
    expected = values.mean() + 0.5 * grads.mean() + 0.25 * hess.mean()
    torch.testing.assert_close(value, expected)
    assert loss.components["order0"] == pytest.approx(values.mean().item())
    assert loss.components["order1"] == pytest.approx(grads.mean().item())
    assert loss.components["order2"] == pytest.approx(hess.mean().item())
    assert loss.components["total"] == pytest.approx(expected.item())


def test_multi_output_loss_sums_components_and_averages_samples():
    d, m, n = 3, 2, 5
    f, g = net(d, m, seed=0), net(d, m, seed=1)
    x = torch.randn(n, d)
    yf, Jf = sb.value_and_jacobian(f, x)
    yg, Jg = sb.value_and_jacobian(g, x, create_graph=False)
    expected = ((yf - yg) ** 2).sum(1).mean() + ((Jf - Jg) ** 2).sum((1, 2)).mean()
    torch.testing.assert_close(
        sb.SobolevLoss(order=1)(f, x, sb.Target.from_arrays(yg, Jg)), expected
    )
    torch.testing.assert_close(sb.SobolevLoss(order=1)(f, x, sb.Target.from_function(g)), expected)


def test_scalar_targets_do_not_broadcast_into_n_by_n():
    # (N, 1) model output against (N,) target: the classic bug gives an N x N residual.
    f = net(2, 1)
    x = torch.randn(6, 2)
    y = torch.randn(6)
    expected = ((f(x)[:, 0] - y) ** 2).mean()
    torch.testing.assert_close(sb.SobolevLoss(order=0)(f, x, sb.Target.from_arrays(y)), expected)


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("projections", [None, 1, 3])
@pytest.mark.parametrize("side", ["input", "output"])
def test_loss_of_a_model_against_itself_is_zero(order, projections, side):
    f = net(3, 2, "softplus")
    x = torch.randn(5, 3)
    loss = sb.SobolevLoss(order=order, projections=projections, side=side)
    assert loss(f, x, sb.Target.from_function(f)).item() == pytest.approx(0.0, abs=1e-24)


def test_loss_matches_input_not_parameter_gradients():
    # Derivatives are taken with respect to x: a model equal to the target in value
    # at x but with a different input slope must have a positive order-1 term.
    def model(x):
        return 2 * x

    x = torch.tensor([[0.0], [0.0]])
    t = sb.Target.from_arrays(torch.zeros(2, 1), torch.ones(2, 1, 1))
    loss = sb.SobolevLoss(order=1)
    assert loss(model, x, t).item() == pytest.approx(1.0)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("side", ["input", "output"])
def test_stochastic_loss_is_unbiased_for_the_exact_loss(order, side):
    d, m, n = 4, 3, 6
    f, g = net(d, m, "tanh", seed=0), net(d, m, "tanh", seed=1)
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
    target = sb.Target.from_function(g)
    exact = sb.SobolevLoss(order=order)
    exact(f, x, target)
    stochastic = sb.SobolevLoss(order=order, projections=8, side=side)
    gen = torch.Generator().manual_seed(1)
    draws = []
    for _ in range(300):
        stochastic(f, x, target, generator=gen)
        draws.append(stochastic.components[f"order{order}"])
    draws = np.array(draws)
    mean, sem = draws.mean(), draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(mean - exact.components[f"order{order}"]) < 4 * sem + 1e-12
    # the value term is exact in both
    assert stochastic.components["order0"] == pytest.approx(exact.components["order0"])


def test_array_and_function_targets_give_the_same_stochastic_loss():
    d, m = 3, 2
    f, g = net(d, m, "softplus", seed=0), net(d, m, "softplus", seed=1)
    x = torch.randn(5, d)
    y, J = sb.value_and_jacobian(g, x, create_graph=False)
    H = sb.hessian(g, x, create_graph=False)
    arrays, function = sb.Target.from_arrays(y, J, H), sb.Target.from_function(g)
    for side in ("input", "output"):
        loss = sb.SobolevLoss(order=2, projections=2, side=side)
        a = loss(f, x, arrays, generator=torch.Generator().manual_seed(5))
        b = loss(f, x, function, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(a, b)


def test_gradcheck_of_loss_wrt_parameters():
    f = net(2, 1, "tanh", hidden=(4,))
    x = torch.randn(3, 2)
    h = torch.randn(3, 2, 2)
    target = sb.Target.from_arrays(torch.randn(3), torch.randn(3, 2), h + h.transpose(1, 2))
    params = list(f.parameters())
    loss = sb.SobolevLoss(order=2)

    def as_function(*ps):
        state = dict(zip([n for n, _ in f.named_parameters()], ps, strict=True))
        return loss(lambda z: torch.func.functional_call(f, state, (z,)), x, target)

    assert torch.autograd.gradcheck(as_function, tuple(p.detach().requires_grad_() for p in params))


@given(
    scale=st.floats(0.1, 10.0),
    seed=st.integers(0, 2**16),
    order=st.integers(0, 2),
)
def test_properties_nonnegative_zero_iff_match_and_quadratic_scaling(scale, seed, order):
    gen = torch.Generator().manual_seed(seed)
    n, d = 4, 2
    x = torch.randn(n, d, generator=gen)
    y, dy, d2y = torch.randn(n, generator=gen), torch.randn(n, d, generator=gen), None
    d2y = torch.randn(n, d, d, generator=gen)
    d2y = d2y + d2y.transpose(1, 2)

    def zero(z):
        return 0 * z[:, :1]

    loss = sb.SobolevLoss(order=order)
    base = loss(zero, x, sb.Target.from_arrays(y, dy, d2y)).item()
    scaled = loss(zero, x, sb.Target.from_arrays(scale * y, scale * dy, scale * d2y)).item()
    assert base > 0
    # residuals scale linearly, so the loss scales quadratically
    assert scaled == pytest.approx(scale**2 * base, rel=1e-10)
    assert loss(zero, x, sb.Target.from_arrays(0 * y, 0 * dy, 0 * d2y)).item() == 0.0


def test_auto_weights_balance_orders_by_target_scale():
    d = 3
    x = torch.randn(50, d)
    y, dy = 10 * torch.randn(50), 0.1 * torch.randn(50, d)
    target = sb.Target.from_arrays(y, dy)
    loss = sb.SobolevLoss(order=1, weights="auto")
    w0, w1 = loss.resolve_weights(target, x)
    s0 = float(((y - y.mean()) ** 2).mean())
    s1 = float((dy**2).sum(1).mean())
    assert w0 == pytest.approx(1 / (1 + d) / s0)
    assert w1 == pytest.approx(d / (1 + d) / s1)
    # the scales of a minibatch are those of the full data set
    assert loss.resolve_weights(target[:5], x[:5]) == (w0, w1)


def test_auto_weights_of_a_term_too_small_for_the_training_dtype_are_unnormalised():
    d = 2
    x = torch.randn(20, d, dtype=torch.float64)
    y, dy = torch.randn(20, dtype=torch.float64), 1e-30 * torch.randn(20, d, dtype=torch.float64)
    loss = sb.SobolevLoss(order=1, weights="auto")
    target = sb.Target.from_arrays(y, dy)
    w0, w1 = loss.resolve_weights(target, x)  # float64: 1e60 fits
    assert w1 == pytest.approx(d / (1 + d) / float((dy**2).sum(1).mean()))
    v0, v1 = loss.resolve_weights(target, x, torch.float32)  # overflows float32
    assert (v0, v1) == (w0, pytest.approx(d / (1 + d)))


def test_relu_with_order_two_warns_once():
    f = net(2, 1, "relu")
    x = torch.randn(3, 2)
    t = sb.Target.from_function(lambda z: (z**2).sum(1))
    loss = sb.SobolevLoss(order=2)
    with pytest.warns(UserWarning, match="zero almost everywhere"):
        loss(f, x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(f, x, t)
    assert loss.components["order2"] > 0  # the model's Hessian is 0, the target's is 2 I


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": 3}, "order must be 0, 1 or 2"),
        ({"projections": 0}, "projections must be an integer >= 1"),
        ({"projections": 1.5}, "projections must be an integer >= 1"),
        ({"weights": [1.0]}, r"weights must hold order \+ 1 = 2"),
        ({"weights": [1.0, -1.0]}, "finite and >= 0"),
        ({"weights": "balanced"}, "weights must be"),
        ({"side": "left"}, "side must be"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sb.SobolevLoss(**kwargs)


def test_bad_call_arguments():
    f = net(2, 1)
    x = torch.randn(4, 2)
    loss = sb.SobolevLoss(order=1)
    with pytest.raises(ValueError, match="N = 4 samples but target has 3"):
        loss(f, x, sb.Target.from_arrays(torch.zeros(3), torch.zeros(3, 2)))
    with pytest.raises(ValueError, match="needs dy"):
        loss(f, x, sb.Target.from_arrays(torch.zeros(4)))
    with pytest.raises(ValueError, match="needs d2y"):
        sb.SobolevLoss(order=2)(
            net(2, 1, "tanh"), x, sb.Target.from_arrays(torch.zeros(4), torch.zeros(4, 2))
        )
    with pytest.raises(ValueError, match="d = 2 inputs but target dy"):
        loss(f, x, sb.Target.from_arrays(torch.zeros(4), torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="number of outputs m must agree"):
        loss(f, x, sb.Target.from_arrays(torch.zeros(4, 2), torch.zeros(4, 2, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        loss(f, x * float("inf"), sb.Target.from_arrays(torch.zeros(4), torch.zeros(4, 2)))
    with pytest.raises(ValueError, match=r"target must be a sobolev.Target"):
        loss(f, x, torch.zeros(4))


def test_output_is_the_model_values_of_the_last_call_with_their_graph():
    f = net(3, 2)
    x = torch.randn(4, 3)
    loss = sb.SobolevLoss(order=1, weights=[0.0, 1.0])
    loss(f, x, sb.Target.from_function(net(3, 2, seed=1)))
    torch.testing.assert_close(loss.output, f(x))
    loss.output.sum().backward()
    assert all(p.grad is not None for p in f.parameters())


class _WithRule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = net(4, 2, "softplus")

    def forward(self, x):
        return self.net(x)

    def value_and_jvp(self, x, v):
        return torch.func.jvp(self.net, (x,), (v,))


@pytest.mark.parametrize("projections", [1, 3])
def test_a_models_own_forward_mode_rule_gives_the_autodiff_loss_and_gradients(projections):
    model, g = _WithRule(), net(4, 2, "softplus", seed=1)
    x = torch.randn(7, 4)
    target = sb.Target.from_function(g)
    loss = sb.SobolevLoss(order=1, weights=[0.5, 2.0], projections=projections, side="input")
    params = list(model.parameters())
    a = loss(model, x, target, generator=torch.Generator().manual_seed(4))
    ga = torch.autograd.grad(a, params)
    b = loss(model.net, x, target, generator=torch.Generator().manual_seed(4))  # no rule
    gb = torch.autograd.grad(b, params)
    torch.testing.assert_close(a, b)
    assert float(a.detach()) > 0
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(p, q)
    torch.testing.assert_close(loss.output, model(x))


def test_first_order_output_side_draws_only_output_directions():
    d, m, n = 5, 3, 6
    f, g = net(d, m, seed=0), net(d, m, seed=1)
    x = torch.randn(n, d)
    loss = sb.SobolevLoss(order=1, weights=[0.0, 1.0], projections=1, side="output")
    value = loss(f, x, sb.Target.from_function(g), generator=torch.Generator().manual_seed(9))
    u = sb.loss.sphere(n, m, like=x, generator=torch.Generator().manual_seed(9))
    r = sb.value_and_vjp(f, x, u)[1] - sb.value_and_vjp(g, x, u)[1]
    torch.testing.assert_close(value, m * (r**2).sum(1).mean())


# -- bad or mismatched input ----------------------------------------------------------
@pytest.mark.parametrize("weights", [2.0, 1, [1.0, "a"]])
def test_weights_that_are_not_a_sequence_of_floats_are_refused(weights):
    with pytest.raises(ValueError, match=r"weights must be a sequence of order \+ 1 = 2 floats"):
        sb.SobolevLoss(order=1, weights=weights)


def test_loss_casts_numpy_and_float64_inputs_to_a_float32_model():
    f32 = sb.MLP(2, 1, (8,), "tanh", seed=0, dtype=torch.float32)
    x = torch.randn(6, 2)
    target = sb.Target.from_arrays(torch.randn(6), torch.randn(6, 2))
    loss = sb.SobolevLoss(order=1)
    ref = loss(f32, x.float(), target)
    assert ref.dtype == torch.float32
    for xs in (x, x.numpy(), x.tolist()):
        torch.testing.assert_close(loss(f32, xs, target), ref)


def test_loss_refuses_batchnorm_without_running_stats():
    f = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4, track_running_stats=False)
    )
    target = sb.Target.from_arrays(torch.zeros(5, 4), torch.zeros(5, 4, 2))
    with pytest.raises(ValueError, match="model contains BatchNorm"):
        sb.SobolevLoss(order=1)(f.double().eval(), torch.randn(5, 2), target)


def test_auto_weights_of_a_function_target_come_from_the_full_inputs():
    teacher = net(2, 1, seed=3)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    full = sb.SobolevLoss(order=1, weights="auto").resolve_weights(
        sb.Target.from_function(teacher), x
    )
    target = sb.Target.from_function(teacher)
    loss = sb.SobolevLoss(order=1, weights="auto")
    loss.resolve_weights(target, x)  # what fit does once before its minibatches
    assert loss.resolve_weights(target, x[:1]) == full
    # Without it, one sample's scales would be used (the audit's defect).
    alone = sb.SobolevLoss(order=1, weights="auto").resolve_weights(
        sb.Target.from_function(teacher), x[:1]
    )
    assert alone != full


@pytest.mark.parametrize("projections", [None, 3])
def test_integer_sample_weights_equal_repeating_samples(projections):
    f = net(2, 1, seed=1)
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 2, generator=gen), torch.randn(5, generator=gen)
    dy = torch.randn(5, 2, generator=gen)
    w = torch.tensor([2.0, 0.0, 1.0, 3.0, 1.0])
    rep = torch.repeat_interleave(torch.arange(5), w.long())
    loss = sb.SobolevLoss(order=1, projections=projections)
    weighted = loss(f, x, sb.Target.from_arrays(y, dy, sample_weight=w))
    repeated = sb.SobolevLoss(order=1)(f, x[rep], sb.Target.from_arrays(y[rep], dy[rep]))
    if projections is None:
        torch.testing.assert_close(weighted, repeated)
    else:  # unbiased: the mean over many draws approaches the exact weighted loss
        draws = [
            loss(f, x, sb.Target.from_arrays(y, dy, sample_weight=w), generator=gen).item()
            for _ in range(400)
        ]
        assert np.mean(draws) == pytest.approx(repeated.item(), rel=0.1)
