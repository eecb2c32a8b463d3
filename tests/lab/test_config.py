"""Study configs: --set parsing from the dataclass fields, validation, JSON round trip."""

import sys
from pathlib import Path
from typing import Literal

import pytest

from sobolev_lab.config import StudyConfig, apply_overrides, describe_fields, param

sys.path.insert(0, str(Path(__file__).parent))
from toy_study import ToyConfig


def test_values_are_converted_to_the_field_types():
    c = apply_overrides(
        ToyConfig(),
        ["seeds=7", "factor=0.5", "sizes=3,4,5", "fail_size=none", "label=a=b", "fast=yes"],
    )
    assert (c.seeds, c.factor, c.sizes, c.fail_size, c.label, c.fast) == (
        7,
        0.5,
        (3, 4, 5),
        None,
        "a=b",
        True,
    )
    assert apply_overrides(c, ["sizes=[1, 2]", "fail_size=4"]).sizes == (1, 2)
    assert ToyConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("seeds=2.5", "--set seeds: expected int"),
        ("seeds=true", "--set seeds: expected int"),
        ("fast=maybe", "--set fast: expected bool"),
        ("sizes=1,x", "--set sizes: expected comma-separated ints"),
        ("seeds", "expects key=value"),
        ("colour=red", "unknown field"),
        ("seeds=0", "seeds must be an integer >= 1"),
        ("factor=-1", "factor must be positive"),
    ],
)
def test_bad_values_name_the_field_and_what_was_expected(pair, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(ToyConfig(), [pair])


def test_validation_is_strict_about_bool_and_accepts_numpy_integers():
    import numpy as np

    with pytest.raises(ValueError, match="seeds"):
        ToyConfig(seeds=True)
    assert ToyConfig(seeds=np.int64(3)).seeds == 3


def test_literal_fields_and_help_text():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class C(StudyConfig):
        mode: Literal["a", "b"] = param("a", "the mode")

    assert apply_overrides(C(), ["mode=b"]).mode == "b"
    with pytest.raises(ValueError, match="expected 'a' | 'b'"):
        apply_overrides(C(), ["mode=c"])
    assert describe_fields(C) == [("mode", "'a' | 'b'", "'a'", "the mode")]
    with pytest.raises(ValueError, match="unknown field"):
        C.from_dict({"mode": "a", "other": 1})
    with pytest.raises(AttributeError):
        C().mode = "b"  # frozen
