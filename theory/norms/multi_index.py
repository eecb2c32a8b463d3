"""Multi-indices ``alpha`` with ``|alpha|`` in a set of orders, each mixed partial once."""

from __future__ import annotations

import itertools

import numpy as np


def multi_indices(dim: int, orders) -> list[tuple[int, ...]]:
    """All ``alpha in N^dim`` with ``|alpha|`` in ``orders`` (orders within 0..2).

    Ordered as the columns of :func:`flatten_table`: order 0, then ``e_i``, then the
    upper triangle ``e_i + e_j`` (``i <= j``) row by row.
    """
    out = []
    for order in sorted(orders):
        for combo in itertools.combinations_with_replacement(range(dim), order):
            alpha = [0] * dim
            for axis in combo:
                alpha[axis] += 1
            out.append(tuple(alpha))
    return out


def flatten_table(table, orders) -> np.ndarray:
    """Stack ``D^alpha f`` for the requested orders into columns.

    Parameters
    ----------
    table : list of numpy.ndarray
        ``[values (N,), gradients (N, d), Hessians (N, d, d)]`` up to ``max(orders)``.
    orders : iterable of int

    Returns
    -------
    numpy.ndarray, shape (N, m)
        ``m = len(multi_indices(d, orders))``; each mixed second partial appears once.
    """
    columns = []
    for order in sorted(orders):
        block = table[order]
        if order == 0:
            columns.append(block[:, None])
        elif order == 1:
            columns.append(block)
        else:
            rows, cols = np.triu_indices(block.shape[1])
            columns.append(block[:, rows, cols])
    return np.concatenate(columns, axis=1)
