"""Standardizer: the chain rule checked by finite differences of the standardised function."""

import numpy as np
import pytest

from sobolev.standardize import Standardizer


def _f(x):  # (N, 2) -> (N, 2), smooth, with known derivatives
    y = np.stack([np.sin(x[:, 0]) * x[:, 1] ** 2, np.exp(0.3 * x[:, 0] - x[:, 1])], axis=1)
    dy = np.stack(
        [
            np.stack([np.cos(x[:, 0]) * x[:, 1] ** 2, 2 * np.sin(x[:, 0]) * x[:, 1]], 1),
            np.stack([0.3 * y[:, 1], -y[:, 1]], 1),
        ],
        axis=1,
    )
    s, c = np.sin(x[:, 0]), np.cos(x[:, 0])
    h0 = np.stack(
        [np.stack([-s * x[:, 1] ** 2, 2 * c * x[:, 1]], 1), np.stack([2 * c * x[:, 1], 2 * s], 1)],
        1,
    )
    h1 = y[:, 1, None, None] * np.array([[0.09, -0.3], [-0.3, 1.0]])
    return y, dy, np.stack([h0, h1], axis=1)


@pytest.mark.parametrize("multi", [False, True])
def test_transform_matches_finite_differences_of_the_standardised_function(multi):
    rng = np.random.default_rng(0)
    x = rng.uniform([-3, 1], [5, 4], size=(7, 2))
    y, dy, d2y = _f(x)
    if not multi:
        y, dy, d2y = y[:, 0], dy[:, 0], d2y[:, 0]
    st = Standardizer.fit(x, y)
    u, v, dv, d2v = st.transform(x, y, dy, d2y)

    def g(uu):  # the standardised target as a function of standardised inputs
        yy = _f(st.inverse(uu)[0])[0]
        return st.transform(y=yy if multi else yy[:, 0])[1]

    h = 1e-5
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (g(u + e) - g(u - e)) / (2 * h)
        np.testing.assert_allclose(dv[..., j], fd, rtol=1e-6, atol=1e-8)
        fd2 = (g(u + e) - 2 * g(u) + g(u - e)) / h**2
        np.testing.assert_allclose(d2v[..., j, j], fd2, rtol=1e-3, atol=1e-4)
    back = st.inverse(u, v, dv, d2v)
    for a, b in zip(back, (x, y, dy, d2y), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_constant_columns_keep_unit_scale_and_bounds_map_to_the_unit_box():
    x = np.array([[1.0, 2.0], [1.0, 4.0]])
    st = Standardizer.fit(x, np.array([3.0, 3.0]))
    np.testing.assert_array_equal(st.x_scale, [1.0, 1.0])
    np.testing.assert_array_equal(st.y_scale, [1.0])
    box = Standardizer.from_bounds([-5, 0], [5, 2], np.array([0.0, 2.0]))
    np.testing.assert_allclose(box.transform(np.array([[-5.0, 2.0]]))[0], [[-1.0, 1.0]])


def test_bad_scales_and_shapes_are_refused():
    with pytest.raises(ValueError, match="x_scale must be positive"):
        Standardizer(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="y must have shape"):
        Standardizer.fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="lower < upper"):
        Standardizer.from_bounds([1.0], [1.0], np.zeros(2))
