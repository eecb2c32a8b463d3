"""The shared validators: strict about bool, accepting numpy scalars, naming the argument."""

import math

import numpy as np
import pytest

from sobolev._validation import (
    check_choice,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_probability,
)


def test_positive_int_accepts_python_and_numpy_integers():
    assert check_positive_int(3, "n") == 3
    value = check_positive_int(np.int32(7), "n")
    assert value == 7 and type(value) is int
    assert check_positive_int(5, "n", minimum=5) == 5
    assert check_positive_int(0, "n", minimum=0) == 0


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), 2.0, np.float64(2), "2", None, 0, -1])
def test_positive_int_refuses_bool_floats_and_small_values(bad):
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got "):
        check_positive_int(bad, "steps")


def test_positive_int_minimum_is_named_in_the_message():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 4, got 3"):
        check_positive_int(3, "batch_size", minimum=4)


def test_nonnegative_int():
    assert check_nonnegative_int(0, "seed") == 0
    assert check_nonnegative_int(np.uint8(9), "seed") == 9
    for bad in (-1, True, 1.5, None):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            check_nonnegative_int(bad, "seed")


def test_positive_float():
    assert check_positive_float(1e-3, "lr") == 1e-3
    value = check_positive_float(2, "lr")
    assert value == 2.0 and type(value) is float
    assert check_positive_float(np.float32(0.5), "lr") == 0.5
    assert check_positive_float(np.int64(3), "lr") == 3.0
    for bad in (True, False, 0, 0.0, -1e-9, math.inf, math.nan, "1e-3", None, np.bool_(True)):
        with pytest.raises(ValueError, match="lr must be a positive finite number, got"):
            check_positive_float(bad, "lr")


def test_nonnegative_float():
    assert check_nonnegative_float(0, "tol") == 0.0
    assert check_nonnegative_float(np.float64(0.25), "tol") == 0.25
    for bad in (True, -0.1, math.inf, math.nan, None):
        with pytest.raises(ValueError, match="tol must be a finite number >= 0, got"):
            check_nonnegative_float(bad, "tol")


def test_probability_with_and_without_its_ends():
    assert check_probability(0, "p") == 0.0 and check_probability(1, "p") == 1.0
    assert check_probability(np.float32(0.25), "p") == 0.25
    for bad in (-0.01, 1.01, True, math.nan, "0.5"):
        with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\], got"):
            check_probability(bad, "p")
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\), got 0"):
        check_probability(0, "fraction", allow_zero=False, allow_one=False)
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\), got 1.0"):
        check_probability(1.0, "fraction", allow_zero=False, allow_one=False)
    assert check_probability(0.5, "fraction", allow_zero=False, allow_one=False) == 0.5


def test_choice():
    assert check_choice("cosine", "schedule", ("constant", "cosine")) == "cosine"
    assert check_choice(2, "order", range(3)) == 2
    with pytest.raises(ValueError, match="schedule must be one of 'constant', 'cosine', got 'lin'"):
        check_choice("lin", "schedule", ("constant", "cosine"))
    # True == 1, but a bool is not the choice 1.
    with pytest.raises(ValueError, match="order must be one of 0, 1, 2, got True"):
        check_choice(True, "order", (0, 1, 2))
    assert check_choice(True, "flag", (True, False)) is True
    for bad in ([1], np.array([1, 2]), {"a": 1}):
        with pytest.raises(ValueError, match="order must be one of"):
            check_choice(bad, "order", (0, 1, 2))
