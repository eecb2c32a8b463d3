"""Reading result files for figures (checksums verified by sobolev_lab.results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sobolev_lab.results import read_result


def payload(path: Path) -> dict[str, Any]:
    """The verified payload of a result file."""
    return read_result(path)["payload"]


def array(value: Any) -> np.ndarray:
    """Nested lists from JSON as a float array."""
    return np.asarray(value, dtype=np.float64)
