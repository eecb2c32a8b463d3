"""The study's config, presets and cells: the grid ``methods x modules x seeds`` on one dataset.

A *cell* is one training run: ``(method, modules, seed)`` plus the hyper-parameters of
:class:`SGConfig` shared by every cell (same architecture, optimiser and data). Every
value is checked before any training starts; bad values raise ``ValueError`` naming the
field and what was expected.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any, Literal

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev.models import ACTIVATIONS
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.experiments.synthetic_gradients.data import DATASETS

__all__ = [
    "ALLOWED_MODULES",
    "CELL_FIELDS",
    "DEVICES",
    "METHODS",
    "MODULE_METHODS",
    "PRESETS",
    "SGConfig",
    "cells",
    "validate_cell",
]

METHODS = ("backprop", "noprop", "sg", "critic", "sobolev")
MODULE_METHODS = ("sg", "critic", "sobolev")
DEVICES = ("cpu", "cuda")
#: Numbers of synthetic-gradient modules (cuts) the three-block networks support.
ALLOWED_MODULES = (1, 3)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _one_of(value: Any, name: str, choices) -> None:
    # bool is an int: without this check modules=True would pass as 1.
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


@dataclass(frozen=True)
class SGConfig(StudyConfig):
    """Decoupled training with synthetic gradients and Sobolev-trained critics.

    The defaults are the shipped ``full`` digits study.
    """

    dataset: Literal["digits", "mnist", "cifar10"] = param(
        "digits", "digits (scikit-learn, bundled), mnist or cifar10 (local files, see data_dir)"
    )
    data_dir: str | None = param(
        None, "folder with the MNIST IDX files or cifar-10-batches-py/ (not needed for digits)"
    )
    methods: tuple[str, ...] = param(list(METHODS), f"methods to train, from {METHODS}")
    modules: tuple[int, ...] = param(
        list(ALLOWED_MODULES),
        f"numbers of synthetic-gradient modules (cuts), from {ALLOWED_MODULES}",
    )
    seeds: int = param(5, "number of seeds 0..seeds-1 per (method, modules)")
    steps: int = param(1500, "training steps per run")
    batch_size: int = param(64, "minibatch size (capped at the training-set size)")
    optimizer: Literal["adam", "sgd"] = param(
        "adam", "optimiser of the network (sgd: momentum 0.9)"
    )
    lr: float = param(3e-4, "learning rate of the network stages")
    module_lr: float = param(1e-3, "Adam learning rate of the synthetic-gradient modules/critics")
    hidden: tuple[int, ...] = param([256, 256, 256], "three MLP widths (digits, MNIST)")
    channels: tuple[int, ...] = param([32, 64, 128], "three CNN block widths (CIFAR-10)")
    module_width: int = param(256, "hidden units (MLP cuts) or channels (CNN cuts) of a module")
    module_layers: int = param(1, "hidden layers of a module (0: linear)")
    sg_activation: str = param("relu", "activation of the DNI modules (sobolev.models.ACTIVATIONS)")
    critic_activation: str = param("relu", "activation of the critics (sobolev.models.ACTIVATIONS)")
    conditioned: bool = param(True, "modules see the one-hot label (cDNI)")
    sobolev_weights: Literal["auto"] | tuple[float, ...] = param(
        [1.0, 1.0],
        "(w_value, w_gradient) of the Sobolev critic, or auto: sobolev.SobolevLoss's "
        "per-batch balance",
    )
    eval_every: int = param(100, "steps between evaluations (and the last step)")
    monitor_size: int = param(256, "training samples that measure gradient-prediction quality")
    eval_split: Literal["test", "validation"] = param(
        "test", "test, or validation: 1/6 of the training set held out instead"
    )
    device: Literal["cpu", "cuda"] = param("cpu", "torch device of every cell")
    amp: bool = param(False, "bfloat16 autocast for the network stages")

    def validate(self) -> None:
        _one_of(self.dataset, "dataset", DATASETS)
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        for key, choices in (("methods", METHODS), ("modules", ALLOWED_MODULES)):
            values = getattr(self, key)
            if not isinstance(values, tuple) or not values or len(set(values)) != len(values):
                raise ValueError(f"{key} must be a non-empty list without repeats, got {values!r}")
            for v in values:
                _one_of(v, key, choices)
        check_positive_int(self.seeds, "seeds")
        for key in ("steps", "batch_size", "eval_every", "monitor_size", "module_width"):
            check_positive_int(getattr(self, key), key)
        check_nonnegative_int(self.module_layers, "module_layers")
        for key in ("lr", "module_lr"):
            object.__setattr__(self, key, _positive_float(getattr(self, key), key))
        for key in ("hidden", "channels"):
            v = getattr(self, key)
            if not isinstance(v, tuple) or len(v) != 3:
                raise ValueError(f"{key} must be a list of 3 positive integers, got {v!r}")
            object.__setattr__(self, key, tuple(check_positive_int(w, key) for w in v))
        for key in ("sg_activation", "critic_activation"):
            _one_of(getattr(self, key), key, sorted(ACTIVATIONS))
        w = self.sobolev_weights
        if w != "auto":
            if not isinstance(w, tuple) or len(w) != 2:
                raise ValueError(
                    f'sobolev_weights must be two finite numbers >= 0 or "auto", got {w!r}'
                )
            for x in w:
                if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x < math.inf:
                    raise ValueError(
                        f'sobolev_weights must be two finite numbers >= 0 or "auto", got {w!r}'
                    )
            object.__setattr__(self, "sobolev_weights", tuple(float(x) for x in w))
        _one_of(self.optimizer, "optimizer", ("adam", "sgd"))
        _one_of(self.eval_split, "eval_split", ("test", "validation"))
        _one_of(self.device, "device", DEVICES)
        for key in ("conditioned", "amp"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be True or False, got {getattr(self, key)!r}")


#: The config fields every cell carries (the grid fields become method, modules, seed).
CELL_FIELDS = tuple(
    f.name for f in fields(SGConfig) if f.name not in ("methods", "modules", "seeds")
)

_QUICK_DIGITS = {"seeds": 2, "steps": 60, "eval_every": 30, "hidden": [64, 64, 64],
                 "module_width": 64, "monitor_size": 128}  # fmt: skip

#: Presets: field overrides of the defaults. ``quick`` and ``full`` run digits; the
#: MNIST and CIFAR-10 extras need ``--set data_dir=DIR``.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": _QUICK_DIGITS,
    "full": {},
    "quick-mnist": {"dataset": "mnist", "seeds": 2, "steps": 500, "eval_every": 100},
    "full-mnist": {"dataset": "mnist", "steps": 30000, "eval_every": 1000, "batch_size": 128},
    "quick-cifar10": {"dataset": "cifar10", "seeds": 2, "steps": 200, "eval_every": 50},
    "full-cifar10": {"dataset": "cifar10", "steps": 30000, "eval_every": 1000,
                     "batch_size": 128, "module_width": 128},
}  # fmt: skip


def _cell(config: SGConfig, method: str, modules: int, seed: int) -> dict[str, Any]:
    shared = config.to_dict()
    return {
        **{k: shared[k] for k in CELL_FIELDS},
        "method": method,
        "modules": modules,
        "seed": seed,
    }


def cells(config: SGConfig) -> list[dict[str, Any]]:
    """Every cell of the study, ordered method, modules, seed (JSON-ready dicts)."""
    return [
        _cell(config, m, k, s)
        for m in config.methods
        for k in config.modules
        for s in range(config.seeds)
    ]


def validate_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults of :class:`SGConfig` into a (partial) cell and check every value.

    Parameters
    ----------
    cell : dict
        Keys of :data:`CELL_FIELDS` plus ``method`` (default "sobolev"), ``modules``
        (default 3) and ``seed`` (default 0).

    Returns
    -------
    dict
        A complete cell (a new dict; ``cell`` is not modified), as :func:`cells` makes.

    Raises
    ------
    ValueError
        On an unknown key or any value :class:`SGConfig` refuses.
    """
    known = (*CELL_FIELDS, "method", "modules", "seed")
    unknown = set(cell) - set(known)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(known)}")
    method, modules = cell.get("method", "sobolev"), cell.get("modules", 3)
    _one_of(method, "method", METHODS)
    _one_of(modules, "modules", ALLOWED_MODULES)
    seed = check_nonnegative_int(cell.get("seed", 0), "seed")
    shared = {k: cell[k] for k in CELL_FIELDS if k in cell}
    config = SGConfig(**shared, methods=(method,), modules=(modules,), seeds=1)
    return _cell(config, method, modules, seed)
