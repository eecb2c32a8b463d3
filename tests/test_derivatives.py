"""Derivatives against finite differences and torch.autograd.functional, in float64."""

import pytest
import torch
from torch import nn

import sobolev as sb

pytestmark = pytest.mark.usefixtures("float64")

SMOOTH = ["tanh", "softplus", "silu"]


def net(d, m, act="tanh", seed=0):
    return sb.MLP(d, m, (12, 9), act, seed=seed, dtype=torch.float64)


def reference_jacobian(f, x):
    return torch.stack(
        [torch.autograd.functional.jacobian(lambda z: f(z[None])[0], x[i]) for i in range(len(x))]
    )


def reference_hessian(f, x, m):
    return torch.stack(
        [
            torch.stack(
                [
                    torch.autograd.functional.hessian(lambda z, k=k: f(z[None])[0, k], x[i])
                    for k in range(m)
                ]
            )
            for i in range(len(x))
        ]
    )


def central_difference(f, x, eps=1e-6):
    """(N, m, d) Jacobian by central differences."""
    cols = []
    for j in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, j] = eps
        cols.append((f(x + e) - f(x - e)) / (2 * eps))
    return torch.stack(cols, dim=2)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize(("d", "m"), [(1, 1), (3, 2), (5, 4)])
def test_jacobian_matches_autograd_functional_and_finite_differences(act, d, m):
    f = net(d, m, act)
    x = torch.randn(7, d, generator=torch.Generator().manual_seed(1))
    y, J = sb.value_and_jacobian(f, x)
    assert y.shape == (7, m) and J.shape == (7, m, d)
    torch.testing.assert_close(y, f(x), rtol=0, atol=0)
    torch.testing.assert_close(J, reference_jacobian(f, x), rtol=1e-12, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(J, central_difference(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize(("d", "m"), [(1, 1), (3, 2)])
def test_hessian_matches_autograd_functional_and_finite_differences(act, d, m):
    f = net(d, m, act)
    x = torch.randn(5, d, generator=torch.Generator().manual_seed(2))
    H = sb.hessian(f, x)
    assert H.shape == (5, m, d, d)
    torch.testing.assert_close(H, reference_hessian(f, x, m), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(H, H.transpose(2, 3), rtol=1e-12, atol=1e-13)

    def jac(z):
        return sb.value_and_jacobian(f, z, create_graph=False)[1]

    fd = torch.stack([central_difference(lambda z, k=k: jac(z)[:, k], x) for k in range(m)], 1)
    torch.testing.assert_close(H, fd, rtol=1e-5, atol=1e-7)


def test_projections_equal_contractions_of_full_derivatives():
    d, m = 4, 3
    f = net(d, m, "softplus")
    g = torch.Generator().manual_seed(3)
    x, v, u = (
        torch.randn(6, d, generator=g),
        torch.randn(6, d, generator=g),
        torch.randn(6, m, generator=g),
    )
    _, J = sb.value_and_jacobian(f, x)
    H = sb.hessian(f, x)
    torch.testing.assert_close(sb.value_and_jvp(f, x, v)[1], torch.einsum("nmd,nd->nm", J, v))
    torch.testing.assert_close(sb.value_and_vjp(f, x, u)[1], torch.einsum("nm,nmd->nd", u, J))
    torch.testing.assert_close(sb.hvp(f, x, v), torch.einsum("nmab,nb->nma", H, v))
    torch.testing.assert_close(sb.uhv(f, x, u, v), torch.einsum("nm,nmab,nb->na", u, H, v))


def test_scalar_output_function_is_treated_as_one_output():
    def f(x):
        return (x**3).sum(1)

    x = torch.randn(4, 2)
    y, J = sb.value_and_jacobian(f, x)
    assert y.shape == (4, 1) and J.shape == (4, 1, 2)
    torch.testing.assert_close(J[:, 0], 3 * x**2)
    H = sb.hessian(f, x)
    torch.testing.assert_close(H[:, 0], torch.diag_embed(6 * x))


def test_derivatives_are_per_sample_and_do_not_mix_the_batch():
    f = net(3, 2)
    x = torch.randn(8, 3)
    _, J = sb.value_and_jacobian(f, x)
    for i in range(8):
        _, Ji = sb.value_and_jacobian(f, x[i : i + 1])
        torch.testing.assert_close(J[i : i + 1], Ji)


def test_results_are_differentiable_wrt_parameters():
    f = net(2, 1)
    x = torch.randn(5, 2)
    _, J = sb.value_and_jacobian(f, x)
    J.pow(2).sum().backward()
    grads = [p.grad for p in f.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_gradcheck_of_jacobian_wrt_input():
    f = net(2, 2, "tanh")

    def jac(z):
        return sb.value_and_jacobian(f, z)[1]

    x = torch.randn(3, 2, requires_grad=True)
    assert torch.autograd.gradcheck(jac, (x,))


def test_constant_and_identity_functions():
    x = torch.randn(3, 2)
    _, J = sb.value_and_jacobian(lambda z: torch.ones(z.shape[0], 2), x)
    assert torch.equal(J, torch.zeros(3, 2, 2))
    _, J = sb.value_and_jacobian(lambda z: z, x)
    torch.testing.assert_close(J, torch.eye(2).expand(3, 2, 2))
    assert torch.equal(sb.hessian(lambda z: z, x), torch.zeros(3, 2, 2, 2))


def test_works_under_no_grad_and_keeps_upstream_graph():
    f = net(2, 1)
    x = torch.randn(4, 2)
    with torch.no_grad():
        _, J = sb.value_and_jacobian(f, x, create_graph=False)
    assert J.shape == (4, 1, 2) and not J.requires_grad
    # x produced by an upstream computation: its graph is kept
    w = torch.ones(2, requires_grad=True)
    _, J = sb.value_and_jacobian(lambda z: (z**2).sum(1), x * w)
    J.sum().backward()
    torch.testing.assert_close(w.grad, (2 * x).sum(0))


def test_batchnorm_in_training_mode_is_refused_and_eval_mode_is_correct():
    f = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(16, 3)
    with pytest.raises(ValueError, match="BatchNorm"):
        sb.value_and_jacobian(f, x)
    f.eval()
    _, J = sb.value_and_jacobian(f, x)
    torch.testing.assert_close(J, reference_jacobian(f, x))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f, x: sb.value_and_jacobian(f, x[0]), r"x must have shape \(N, d\)"),
        (lambda f, x: sb.value_and_jacobian(f, x * float("nan")), "NaN or inf"),
        (lambda f, x: sb.value_and_jvp(f, x, torch.ones(4, 3)), r"v must have shape \(4, 2\)"),
        (lambda f, x: sb.value_and_vjp(f, x, torch.ones(4, 2)), r"u must have shape \(4, 1\)"),
        (lambda f, x: sb.hvp(f, x, torch.ones(3, 2)), r"v must have shape \(4, 2\)"),
        (lambda f, x: sb.value_and_jacobian(lambda z: z.sum(), x), r"shape \(N, m\) or \(N,\)"),
        (lambda f, x: sb.value_and_jacobian(lambda z: 1.0, x), "must return a torch.Tensor"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    f = net(2, 1)
    with pytest.raises(ValueError, match=match):
        call(f, torch.randn(4, 2))


class _WithRule(nn.Module):
    """A tanh MLP with a hand-written forward-mode rule, optionally scaled (wrong)."""

    def __init__(self, scale=1.0, bad_shape=False):
        super().__init__()
        self.net = net(3, 2)
        self.scale, self.bad_shape = scale, bad_shape

    def forward(self, x):
        return self.net(x)

    def value_and_jvp(self, x, v):
        y, Jv = torch.func.jvp(self.net, (x,), (v,))
        return (y, Jv[:, :1]) if self.bad_shape else (y, self.scale * Jv)


def test_value_and_jvp_uses_a_models_own_rule_unless_told_not_to():
    x, v = torch.randn(6, 3), torch.randn(6, 3)
    honest, scaled = _WithRule(), _WithRule(scale=3.0)
    scaled.net.load_state_dict(honest.net.state_dict())
    y, Jv = sb.value_and_jvp(honest, x, v)
    y_ad, Jv_ad = sb.value_and_jvp(honest, x, v, custom=False)
    torch.testing.assert_close(y, y_ad)
    torch.testing.assert_close(Jv, Jv_ad)
    torch.testing.assert_close(Jv, torch.einsum("nmd,nd->nm", reference_jacobian(honest, x), v))
    # The rule really is the one called: a deliberately wrong rule shows through.
    torch.testing.assert_close(sb.value_and_jvp(scaled, x, v)[1], 3.0 * Jv_ad)
    assert not sb.value_and_jvp(honest, x, v, create_graph=False)[1].requires_grad


def test_a_custom_rule_returning_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"value_and_jvp\(x, v\) .* same shape"):
        sb.value_and_jvp(_WithRule(bad_shape=True), torch.randn(4, 3), torch.randn(4, 3))


def test_a_custom_rule_returning_something_else_is_refused():
    class Bad(nn.Module):
        def forward(self, x):
            return x

        def value_and_jvp(self, x, v):
            return x

    with pytest.raises(ValueError, match="tuple"):
        sb.value_and_jvp(Bad(), torch.randn(4, 3), torch.randn(4, 3))


# -- bad or mismatched input: cast to the model, or refuse clearly ------------------------
@pytest.mark.parametrize(
    "make_x",
    [
        lambda x: x.numpy(),  # float64 numpy array
        lambda x: x.tolist(),  # nested lists
        lambda x: x,  # float64 tensor
    ],
    ids=["numpy", "list", "float64-tensor"],
)
def test_inputs_are_cast_to_a_float32_models_dtype(make_x):
    f32 = sb.MLP(2, 1, (8,), "tanh", seed=0, dtype=torch.float32)
    x = torch.randn(5, 2, dtype=torch.float64)
    y, J = sb.value_and_jacobian(f32, make_x(x))
    assert y.dtype == J.dtype == torch.float32
    # Independent reference: the same weights in float64, at the same (rounded) inputs.
    f64 = sb.MLP(2, 1, (8,), "tanh", seed=0, dtype=torch.float64)
    f64.load_state_dict({k: v.double() for k, v in f32.state_dict().items()})
    x32 = x.float().double()
    torch.testing.assert_close(J.double(), reference_jacobian(f64, x32), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(y.double(), f64(x32), rtol=1e-5, atol=1e-6)


def test_batchnorm_without_running_stats_is_refused_in_eval_mode():
    # It still normalises with batch statistics, so eval() alone does not make it safe.
    f = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8, track_running_stats=False), nn.Tanh())
    f = f.double().eval()
    with pytest.raises(ValueError, match="track_running_stats=False"):
        sb.value_and_jacobian(f, torch.randn(6, 3))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        sb.value_and_jvp(f, torch.randn(6, 3), torch.randn(6, 3))
