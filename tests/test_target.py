"""Target: shape conventions, validation and indexing."""

import warnings

import numpy as np
import pytest
import torch

import sobolev as sb

pytestmark = pytest.mark.usefixtures("float64")


def test_scalar_convention_and_numpy_input():
    t = sb.Target.from_arrays(np.arange(3.0), np.ones((3, 2)), np.zeros((3, 2, 2)))
    assert t.y.shape == (3, 1) and t.dy.shape == (3, 1, 2) and t.d2y.shape == (3, 1, 2, 2)
    assert len(t) == 3 and t.max_order == 2
    sub = t[1:]
    assert len(sub) == 2 and torch.equal(sub.y[:, 0], torch.tensor([1.0, 2.0]))
    assert "y=(3, 1)" in repr(t)


def test_function_target_derivatives_are_detached_autodiff():
    w = torch.tensor([1.0, 2.0], requires_grad=True)

    def g(x):
        return (x * w).sum(1) ** 2

    t = sb.Target.from_function(g)
    x = torch.randn(4, 2)
    J = t.jacobian(x)
    assert not J.requires_grad
    torch.testing.assert_close(J[:, 0], 2 * (x * w).sum(1, keepdim=True).detach() * w.detach())
    assert t[0:2] is t and t.max_order is None


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((2, 2, 2)),), r"y must have shape \(N, m\) or \(N,\)"),
        ((np.zeros(3), np.zeros((2, 2))), "dy must have shape"),
        ((np.zeros((3, 2)), np.zeros((3, 2))), "dy must have shape"),
        ((np.zeros(3), np.zeros((3, 2)), np.zeros((3, 3, 3))), "d2y must have shape"),
        ((np.array([1.0, np.nan]),), "y contains 1 NaN"),
        ((np.zeros(2), np.array([[np.inf, 0.0], [0.0, 0.0]])), "dy contains 1 NaN or inf"),
        ((np.array(["a", "b"]),), "y must hold numbers"),
    ],
)
def test_bad_arrays_raise(args, match):
    with pytest.raises(ValueError, match=match):
        sb.Target.from_arrays(*args)


def test_from_function_needs_a_callable():
    with pytest.raises(ValueError, match="fn must be callable"):
        sb.Target.from_function(3.0)


@pytest.mark.parametrize("y", [np.zeros(0), np.zeros((0, 1)), np.zeros((3, 0))])
def test_empty_values_are_refused(y):
    with pytest.raises(ValueError, match="y must hold at least one sample"):
        sb.Target.from_arrays(y)


def test_non_symmetric_second_derivatives_are_refused():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 3, 3))
    sym = h + h.transpose(0, 2, 1)
    # Round-off sized asymmetry (as from float32 autodiff) is accepted.
    sb.Target.from_arrays(np.zeros(4), np.zeros((4, 3)), sym + 1e-9 * h)
    bad = sym.copy()
    bad[2, 0, 1] += 0.5
    with pytest.raises(ValueError, match=r"d2y must be symmetric.*d2y\[2, 0, 0, 1\]"):
        sb.Target.from_arrays(np.zeros(4), np.zeros((4, 3)), bad)


@pytest.mark.parametrize(
    ("w", "match"),
    [
        (np.ones(2), r"sample_weight must have shape \(N,\) = \(3,\)"),
        (np.array([1.0, -1.0, 1.0]), "sample_weight must be >= 0"),
        (np.zeros(3), "positive sum"),
        (np.array([1.0, np.nan, 1.0]), "sample_weight contains 1 NaN"),
    ],
)
def test_bad_sample_weights_are_refused(w, match):
    with pytest.raises(ValueError, match=match):
        sb.Target.from_arrays(np.zeros(3), sample_weight=w)


def test_sample_weights_travel_with_indexing():
    t = sb.Target.from_arrays(np.arange(4.0), sample_weight=np.array([1.0, 2.0, 0.0, 3.0]))
    assert torch.equal(t[1:3].sample_weight, torch.tensor([2.0, 0.0]))
    # Weighted variance of the values: mean 14/6 ... computed by hand in numpy.
    y, w = np.arange(4.0), np.array([1.0, 2.0, 0.0, 3.0])
    mu = (w * y).sum() / w.sum()
    assert t.scales()[0] == pytest.approx((w * (y - mu) ** 2).sum() / w.sum(), rel=1e-12)


def test_function_target_with_train_mode_dropout_warns_once():
    teacher = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1)
    )
    t = sb.Target.from_function(teacher.double())
    x = torch.randn(4, 2)
    with pytest.warns(UserWarning, match="dropout module '1' in training mode"):
        t.values(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.jacobian(x)  # already warned
        sb.Target.from_function(teacher.eval()).jacobian(x)  # eval: deterministic, silent


def test_function_target_in_another_dtype_returns_the_inputs_dtype():
    teacher = sb.MLP(2, 1, (8,), "tanh", seed=1, dtype=torch.float32)
    t = sb.Target.from_function(teacher)
    x = torch.randn(5, 2, dtype=torch.float64)
    J = t.jacobian(x)
    assert J.dtype == torch.float64 and t.values(x).dtype == torch.float64
    torch.testing.assert_close(J.float(), sb.value_and_jacobian(teacher, x.float())[1])
