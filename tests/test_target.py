"""Target: shape conventions, validation and indexing."""

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
