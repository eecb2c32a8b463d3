"""Name-based access to the catalog: :func:`get`, :func:`names`, :func:`sample`."""

from __future__ import annotations

from functools import cache

import numpy as np

from sobolev_lab.theory.functions.catalog import ENTRIES, PAPER_FUNCTIONS
from sobolev_lab.theory.functions.function import BenchmarkFunction


def names(paper_only: bool = False) -> list[str]:
    """Registry keys in catalog order (the paper's seven first)."""
    return list(PAPER_FUNCTIONS) if paper_only else list(ENTRIES)


def generic_names() -> list[str]:
    """Keys of the functions defined in any dimension (``get(name, dim=d)``)."""
    return [n for n, e in ENTRIES.items() if e.fixed_dim is None]


def get(name: str, dim: int | None = None) -> BenchmarkFunction:
    """Return the test function ``name`` in dimension ``dim``.

    Parameters
    ----------
    name : str
        Lowercase snake-case key, e.g. ``"bukin_n6"``; see :func:`names`.
    dim : int, optional
        Input dimension. ``None`` gives the 2-D version (the paper's).

    Returns
    -------
    BenchmarkFunction
        Cached: equal arguments give the same object.

    Raises
    ------
    KeyError
        Unknown ``name`` (the message lists the valid ones).
    ValueError
        ``dim`` is not allowed for this function.
    """
    if name not in ENTRIES:
        raise KeyError(f"unknown test function {name!r}; valid names: {', '.join(ENTRIES)}")
    entry = ENTRIES[name]
    if dim is None:
        dim = entry.fixed_dim or 2
    if isinstance(dim, bool) or int(dim) != dim:
        raise ValueError(f"dim must be an integer; got {dim!r}")
    dim = int(dim)
    if entry.fixed_dim is not None and dim != entry.fixed_dim:
        raise ValueError(f"{name} is only defined for dim={entry.fixed_dim}; got dim={dim}")
    if dim < entry.min_dim:
        raise ValueError(f"{name} needs dim >= {entry.min_dim}; got dim={dim}")
    return _build(name, dim)


@cache
def _build(name: str, dim: int) -> BenchmarkFunction:
    return BenchmarkFunction(ENTRIES[name], dim)


def sample(
    fn: BenchmarkFunction | str,
    n: int,
    rng: np.random.Generator | int | None = None,
    margin: float = 0.0,
) -> np.ndarray:
    """Uniform points (n, d) in the domain of ``fn``, ``margin`` away from kinks.

    ``rng`` may be a Generator or an integer seed. See :meth:`BenchmarkFunction.sample`.
    """
    fn = get(fn) if isinstance(fn, str) else fn
    if isinstance(rng, np.random.Generator):
        return fn.sample(n, margin=margin, rng=rng)
    return fn.sample(n, seed=rng, margin=margin)
