"""The explicit 1-D ReLU interpolant: exactness at knots and its W^{1,p} rates."""

import numpy as np
import pytest
import torch

from approx.common import errors_of
from approx.construction import relu_interpolant
from theory.functions import get


def test_interpolates_at_knots_and_is_linear_between():
    f = get("styblinski_tang", dim=1)
    net = relu_interpolant(f, 10)
    knots = np.linspace(-5, 5, 11)[:, None]
    with torch.no_grad():
        h = net(torch.as_tensor(knots)).numpy()[:, 0]
        mid = net(torch.as_tensor((knots[:-1] + knots[1:]) / 2)).numpy()[:, 0]
    np.testing.assert_allclose(h, f.value(knots), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(mid, (h[:-1] + h[1:]) / 2, rtol=1e-12, atol=1e-9)


def test_error_rates_match_theory():
    f = get("styblinski_tang", dim=1)
    widths = [16, 32, 64]
    errs = [
        errors_of(relu_interpolant(f, w), f.name, 1, ("l2", "w12", "w1inf"), "low") for w in widths
    ]
    for metric, rate in (("l2", 2.0), ("w12", 1.0), ("w1inf", 1.0)):
        slope = -np.polyfit(np.log(widths), np.log([e[metric] for e in errs]), 1)[0]
        assert slope == pytest.approx(rate, abs=0.15), metric


def test_bad_arguments():
    with pytest.raises(ValueError, match="1-D"):
        relu_interpolant(get("sphere", dim=2), 4)
    with pytest.raises(ValueError, match="width"):
        relu_interpolant(get("sphere", dim=1), 0)
