"""Sobolev norms W^{k,p} (k <= 2, 1 <= p <= inf) on boxes, exact or by quadrature.

>>> from theory.norms import sobolev_distance
>>> sobolev_distance(model, get("ackley", 3), k=1, p=2)     # doctest: +SKIP

See :mod:`sobolev_lab.theory.norms.sobolev` for the definition and the methods.
"""

from sobolev_lab.theory.domain import Box, as_box
from sobolev_lab.theory.norms.multi_index import flatten_table, multi_indices
from sobolev_lab.theory.norms.sobolev import (
    METHODS,
    NormResult,
    sobolev_distance,
    sobolev_norm,
    sobolev_seminorm,
)

__all__ = [
    "METHODS",
    "Box",
    "NormResult",
    "as_box",
    "flatten_table",
    "multi_indices",
    "sobolev_distance",
    "sobolev_norm",
    "sobolev_seminorm",
]
