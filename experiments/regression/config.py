"""Presets and validation of the regression study's configuration.

A config is a plain JSON-serialisable dict (it is hashed to name result cells):

``functions``
    Registry names of :mod:`sobolev_lab.theory.functions`, optionally with a dimension as
    ``"name:d"`` (``"rosenbrock:8"``); a bare name is the 2-D version.
``n_train``
    Training-set sizes (points drawn uniformly on the function's domain).
``seeds``
    Number of seeds; seed ``s`` fixes the training points, the test points and the
    initial weights, identically for every method.
``methods``
    Subset of :data:`METHODS`: ``"regular"`` (values only, order 0), ``"sobolev"``
    (values and exact gradients, order 1) and ``"sobolev_estimated"`` (order 1 on
    gradients estimated from the training values by nearest-neighbour least squares,
    :func:`sobolev.estimate.estimate_gradients`).
``steps``, ``lr``, ``schedule``
    Full-batch Adam steps, initial learning rate and its schedule; the same for every
    method.
``convergence_check``
    Also train every cell with ``2 * steps`` and report the relative change of each
    reported test MSE.
``hidden``, ``activation``, ``dtype``
    The MLP (paper: ``[256, 256]``, ``"relu"``) and the training precision.
``normalise``
    Map the domain to ``[-1, 1]^d`` and standardise values by the training mean and
    standard deviation (derivatives scaled consistently); identical for all methods.
``n_test``
    Fresh uniform test points per seed.
``kink_margin``
    For non-smooth functions, metrics are also reported on the test points at least
    ``kink_margin * (domain diagonal)`` away from the kink set.
``n_neighbors``
    Neighbours for the gradient estimates (None: the library default ``2 d + 1``).
``grid_functions``, ``grid_size``
    Functions whose seed-0 fits are also stored on a ``grid_size`` x ``grid_size``
    grid over the domain (2-D only), for figures.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from sobolev_lab.theory.functions import PAPER_FUNCTIONS

METHODS: tuple[str, ...] = ("regular", "sobolev", "sobolev_estimated")


_BASE: dict[str, Any] = {
    "name": "custom",
    "functions": list(PAPER_FUNCTIONS),
    "n_train": [20, 100],
    "seeds": 10,
    "methods": ["regular", "sobolev", "sobolev_estimated"],
    "steps": 1000,
    "lr": 1e-3,
    "schedule": "cosine",
    "convergence_check": False,
    "hidden": [256, 256],
    "activation": "relu",
    "dtype": "float32",
    "normalise": True,
    "n_test": 10_000,
    "kink_margin": 0.01,
    "n_neighbors": None,
    "grid_functions": ["styblinski_tang"],
    "grid_size": 41,
}


def _extended_functions() -> list[str]:
    from sobolev_lab.theory.functions import generic_names, names

    return [*names(), *(f"{n}:{d}" for d in (4, 8) for n in generic_names())]


def preset(name: str) -> dict[str, Any]:
    """The config of preset ``"quick"``, ``"paper"`` or ``"extended"`` (a fresh copy)."""
    cfg = copy.deepcopy(_BASE)
    cfg["name"] = name
    if name == "quick":
        cfg.update(
            functions=["styblinski_tang", "ackley"],
            n_train=[20],
            seeds=2,
            steps=60,
            n_test=500,
            grid_size=11,
        )
    elif name == "paper":
        cfg.update(convergence_check=True)
    elif name == "extended":
        cfg.update(functions=_extended_functions(), seeds=5)
    else:
        raise ValueError(f'preset must be "quick", "paper" or "extended", got {name!r}')
    return cfg


def parse_function(spec: str) -> tuple[str, int | None]:
    """Split ``"name"`` or ``"name:d"`` into the registry name and the dimension."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"functions entries must be non-empty strings, got {spec!r}")
    name, _, dim = spec.partition(":")
    if not dim:
        return name, None
    if not dim.isdigit():
        raise ValueError(f'function {spec!r}: the dimension after ":" must be an integer')
    return name, int(dim)


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Check a config completely (before any training) and return it with defaults.

    Unknown keys are refused, missing keys take the ``paper`` values (without the
    convergence check).

    Raises
    ------
    ValueError
        Naming the offending key and what was expected.
    """
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_BASE))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(_BASE)}")
    cfg = copy.deepcopy(_BASE)
    cfg.update(copy.deepcopy(config))

    from sobolev_lab.theory.functions import get, names

    functions = cfg["functions"]
    if isinstance(functions, str) or not isinstance(functions, list | tuple) or not functions:
        raise ValueError(f"functions must be a non-empty list of names, got {functions!r}")
    for spec in functions:
        fname, dim = parse_function(spec)
        if fname not in names():
            raise ValueError(
                f"unknown function {fname!r} in functions; valid names: {', '.join(names())}"
            )
        try:
            get(fname, dim)
        except ValueError as exc:
            raise ValueError(f"function {spec!r}: {exc}") from None
    if len(set(functions)) != len(functions):
        raise ValueError(f"functions contains duplicates: {functions}")
    cfg["functions"] = list(functions)

    n_train = cfg["n_train"]
    if isinstance(n_train, int) and not isinstance(n_train, bool):
        n_train = [n_train]
    if not isinstance(n_train, list | tuple) or not n_train:
        raise ValueError(f"n_train must be a non-empty list of integers >= 1, got {n_train!r}")
    cfg["n_train"] = [_positive_int(n, "n_train entries") for n in n_train]
    _positive_int(cfg["seeds"], "seeds")
    methods = cfg["methods"]
    if isinstance(methods, str) or not isinstance(methods, list | tuple) or not methods:
        raise ValueError(f"methods must be a non-empty list out of {list(METHODS)}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; valid methods: {list(METHODS)}")
    cfg["methods"] = [m for m in METHODS if m in methods]  # canonical order
    if "sobolev_estimated" in cfg["methods"] and min(cfg["n_train"]) < 2:
        raise ValueError("method sobolev_estimated needs n_train >= 2 (neighbours to fit)")
    _positive_int(cfg["steps"], "steps")
    lr = cfg["lr"]
    if (
        isinstance(lr, bool)
        or not isinstance(lr, int | float)
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if cfg["schedule"] not in ("constant", "cosine"):
        raise ValueError(f'schedule must be "constant" or "cosine", got {cfg["schedule"]!r}')
    if not isinstance(cfg["convergence_check"], bool):
        raise ValueError("convergence_check must be true or false")
    hidden = cfg["hidden"]
    if not isinstance(hidden, list | tuple) or not hidden:
        raise ValueError(f"hidden must be a non-empty list of widths, got {hidden!r}")
    cfg["hidden"] = [_positive_int(h, "hidden widths") for h in hidden]
    from sobolev.ensemble import ACTIVATION_DERIVATIVES

    if cfg["activation"] not in ACTIVATION_DERIVATIVES:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATION_DERIVATIVES)}, got {cfg['activation']!r}"
        )
    if cfg["dtype"] not in ("float32", "float64"):
        raise ValueError(f'dtype must be "float32" or "float64", got {cfg["dtype"]!r}')
    if not isinstance(cfg["normalise"], bool):
        raise ValueError("normalise must be true or false")
    _positive_int(cfg["n_test"], "n_test")
    km = cfg["kink_margin"]
    if isinstance(km, bool) or not isinstance(km, int | float) or not (0 <= km < 1):
        raise ValueError(f"kink_margin must be a number in [0, 1), got {km!r}")
    if cfg["n_neighbors"] is not None:
        _positive_int(cfg["n_neighbors"], "n_neighbors")
        if "sobolev_estimated" in cfg["methods"] and cfg["n_neighbors"] > min(cfg["n_train"]) - 1:
            raise ValueError(
                f"n_neighbors = {cfg['n_neighbors']} needs n_train >= n_neighbors + 1, "
                f"got n_train {cfg['n_train']}"
            )
    grid_fns = cfg["grid_functions"]
    if isinstance(grid_fns, str) or not isinstance(grid_fns, list | tuple):
        raise ValueError(f"grid_functions must be a list of function names, got {grid_fns!r}")
    cfg["grid_functions"] = list(grid_fns)
    _positive_int(cfg["grid_size"], "grid_size", minimum=2)
    if (
        not isinstance(cfg["name"], str)
        or not cfg["name"].replace("_", "").replace("-", "").isalnum()
    ):
        raise ValueError(f"name must be a file-name-safe string, got {cfg['name']!r}")
    return cfg
