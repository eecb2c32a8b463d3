"""Differential machine learning (Huge & Savine 2020): option pricing from noisy pathwise labels.

``STUDY`` is loaded lazily so that importing the market generators stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STUDY"]


def __getattr__(name: str) -> Any:
    if name == "STUDY":
        from sobolev_lab.experiments.differential_ml.study import STUDY

        return STUDY
    raise AttributeError(name)
