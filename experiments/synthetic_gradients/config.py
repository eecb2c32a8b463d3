"""The study's config, presets and cells: ``tasks x methods x trials x seeds``.

A *task* is ``"dataset/arch/modules"`` (for example ``"mnist1d/cnn/3"``): the data,
the network and how many synthetic-gradient modules cut it. A *cell* is one training
run of one method with one trial configuration at one seed. Every method gets the same
number of trial configurations (equal tuning budgets, issue #14):

* ``backprop``, ``noprop``: the network learning rate, from ``lr_grid``;
* ``dni``, ``value_critic``, ``gradient_critic``: the module learning rate, from
  ``module_lr_grid`` (the network uses ``lr``);
* ``sobolev_critic``: the value weight, from ``sobolev_grid`` (``"raw:W"``: weights
  (W, 1); ``"norm:W"``: (W / s_v, 1 / s_g) with the scales s measured in a warm-up,
  see :mod:`.train`), at module learning rate ``sobolev_module_lr``.

The trial is chosen per (task, method) on the validation split only
(:mod:`.study`); every value is checked before any training starts.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from sobolev._validation import check_nonnegative_int, check_positive_float, check_positive_int
from sobolev.models import ACTIVATIONS
from sobolev_lab.config import StudyConfig, param

__all__ = [
    "ALLOWED_MODULES",
    "CELL_FIELDS",
    "CRITIC_METHODS",
    "METHODS",
    "MODULE_METHODS",
    "PRESETS",
    "SGConfig",
    "cells",
    "parse_device",
    "parse_sobolev_trial",
    "parse_task",
    "trial_hyperparameters",
    "validate_cell",
]

METHODS = ("backprop", "noprop", "dni", "value_critic", "gradient_critic", "sobolev_critic")
MODULE_METHODS = ("dni", "value_critic", "gradient_critic", "sobolev_critic")
CRITIC_METHODS = ("value_critic", "gradient_critic", "sobolev_critic")
#: Numbers of synthetic-gradient modules (cuts) the three-block networks support.
ALLOWED_MODULES = (1, 3)
#: Architectures per dataset (cnn: 1-D convolutions on MNIST-1D, 2-D on CIFAR-10).
ARCHS = {"digits": ("mlp",), "mnist": ("mlp",), "mnist1d": ("mlp", "cnn"), "cifar10": ("cnn",)}
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _one_of(value: Any, name: str, choices) -> None:
    # bool is an int: without this check modules=True would pass as 1.
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def parse_task(task: Any) -> tuple[str, str, int]:
    """``"dataset/arch/modules"`` -> (dataset, arch, modules), or ValueError naming ``tasks``."""
    parts = task.split("/") if isinstance(task, str) else []
    ok = len(parts) == 3 and parts[0] in ARCHS and parts[1] in ARCHS[parts[0]]
    if not ok or parts[2] not in {str(k) for k in ALLOWED_MODULES}:
        raise ValueError(
            f"tasks entries must be 'dataset/arch/modules' with dataset/arch one of "
            f"{[f'{d}/{a}' for d, archs in ARCHS.items() for a in archs]} and modules in "
            f"{ALLOWED_MODULES}, got {task!r}"
        )
    return parts[0], parts[1], int(parts[2])


def parse_sobolev_trial(entry: Any) -> tuple[float, bool]:
    """``"raw:W"`` / ``"norm:W"`` -> (W, normalised), or ValueError naming ``sobolev_grid``."""
    kind, _, weight = entry.partition(":") if isinstance(entry, str) else ("", "", "")
    try:
        w = float(weight)
    except ValueError:
        w = math.nan
    if kind not in ("raw", "norm") or not 0 <= w < math.inf:
        raise ValueError(
            f"sobolev_grid entries must be 'raw:W' or 'norm:W' with a finite W >= 0, got {entry!r}"
        )
    return w, kind == "norm"


def parse_device(device: Any) -> str:
    """``cpu``, ``cuda`` or ``cuda:k``, or ValueError naming ``device``."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be cpu, cuda or cuda:k (k = 0, 1, ...), got {device!r}")
    return device


@dataclass(frozen=True)
class SGConfig(StudyConfig):
    """Decoupled training with synthetic gradients and critics, trials chosen on validation.

    The defaults are the shipped ``full`` study (digits and MNIST-1D).
    """

    tasks: tuple[str, ...] = param(
        ["digits/mlp/3", "mnist1d/mlp/3", "mnist1d/cnn/3"],
        "dataset/arch/modules entries: digits|mnist|mnist1d/mlp, mnist1d|cifar10/cnn; 1 or 3",
    )
    data_dir: str | None = param(
        None, "folder with the MNIST IDX files or cifar-10-batches-py/ (digits, mnist1d: none)"
    )
    methods: tuple[str, ...] = param(list(METHODS), f"methods to train, from {METHODS}")
    critic_activations: tuple[str, ...] = param(
        ["relu", "softplus"],
        "activations of the critics (relu, softplus, ...); each critic runs with each",
    )
    seeds: int = param(10, "number of seeds 0..seeds-1 per (task, method, trial)")
    steps: int = param(350, "training steps per run")
    batch_size: int = param(128, "minibatch size (capped at the training-set size)")
    optimizer: Literal["adam", "sgd"] = param(
        "adam", "optimiser of the network (sgd: momentum 0.9)"
    )
    lr: float = param(3e-4, "network learning rate of the decoupled methods")
    lr_grid: tuple[float, ...] = param(
        [1e-3, 2e-3, 3e-3, 6e-3, 1e-2], "trial network learning rates of backprop and noprop"
    )
    module_lr_grid: tuple[float, ...] = param(
        [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        "trial module learning rates of dni, value_critic, gradient_critic",
    )
    sobolev_grid: tuple[str, ...] = param(
        ["raw:1", "raw:0.1", "raw:0.01", "raw:0.001", "norm:0.1"],
        "trial value weights of sobolev_critic: raw:W (weights W, 1) or norm:W (W/s_v, 1/s_g)",
    )
    sobolev_module_lr: float = param(
        1e-2,
        "module learning rate of sobolev_critic (the rate every other critic chose on "
        "validation from module_lr_grid in the first full run)",
    )
    hidden: tuple[int, ...] = param([128, 128, 128], "three MLP widths")
    channels: tuple[int, ...] = param([16, 16, 16], "three CNN block widths")
    module_width: int = param(64, "hidden units (MLP cuts) or channels (CNN cuts) of a module")
    module_layers: int = param(1, "hidden layers of a module (0: linear)")
    sg_activation: str = param("relu", "activation of the DNI modules (sobolev.models.ACTIVATIONS)")
    conditioned: bool = param(True, "modules see the one-hot label (cDNI)")
    eval_every: int = param(50, "steps between evaluations and finiteness checks (and the last)")
    monitor_size: int = param(256, "training samples that measure the diagnostics")
    device: str = param("cpu", "torch device of every cell: cpu, cuda or cuda:k")
    amp: bool = param(False, "bfloat16 autocast for the network stages")

    @property
    def n_trials(self) -> int:
        """The tuning budget: trial configurations per method."""
        return len(self.lr_grid)

    def validate(self) -> None:
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        for key in ("tasks", "methods", "critic_activations", "lr_grid", "module_lr_grid"):
            values = getattr(self, key)
            if not isinstance(values, tuple) or not values or len(set(values)) != len(values):
                raise ValueError(f"{key} must be a non-empty list without repeats, got {values!r}")
        for t in self.tasks:
            parse_task(t)
        for m in self.methods:
            _one_of(m, "methods", METHODS)
        for a in self.critic_activations:
            _one_of(a, "critic_activations", sorted(ACTIVATIONS))
        for key in ("lr_grid", "module_lr_grid"):
            object.__setattr__(
                self, key, tuple(check_positive_float(v, key) for v in getattr(self, key))
            )
        if not isinstance(self.sobolev_grid, tuple):
            raise ValueError(f"sobolev_grid must be a list, got {self.sobolev_grid!r}")
        for entry in self.sobolev_grid:
            parse_sobolev_trial(entry)
        sizes = {k: len(getattr(self, k)) for k in ("lr_grid", "module_lr_grid", "sobolev_grid")}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"lr_grid, module_lr_grid and sobolev_grid must hold the same number of trials "
                f"(equal tuning budgets per method), got {sizes}"
            )
        check_positive_int(self.seeds, "seeds")
        for key in ("steps", "batch_size", "eval_every", "monitor_size", "module_width"):
            check_positive_int(getattr(self, key), key)
        check_nonnegative_int(self.module_layers, "module_layers")
        for key in ("lr", "sobolev_module_lr"):
            object.__setattr__(self, key, check_positive_float(getattr(self, key), key))
        for key in ("hidden", "channels"):
            v = getattr(self, key)
            if not isinstance(v, tuple) or len(v) != 3:
                raise ValueError(f"{key} must be a list of 3 positive integers, got {v!r}")
            object.__setattr__(self, key, tuple(check_positive_int(w, key) for w in v))
        _one_of(self.sg_activation, "sg_activation", sorted(ACTIVATIONS))
        _one_of(self.optimizer, "optimizer", ("adam", "sgd"))
        parse_device(self.device)
        for key in ("conditioned", "amp"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be True or False, got {getattr(self, key)!r}")


#: The config fields every cell carries (the grids become the cell's own hyperparameters).
CELL_FIELDS = tuple(
    f.name
    for f in fields(SGConfig)
    if f.name
    not in (
        "tasks",
        "methods",
        "critic_activations",
        "seeds",
        "lr",
        "lr_grid",
        "module_lr_grid",
        "sobolev_grid",
        "sobolev_module_lr",
    )
)

_QUICK = {"tasks": ["digits/mlp/3", "mnist1d/cnn/3"], "critic_activations": ["softplus"],
          "seeds": 2, "steps": 30, "eval_every": 15, "hidden": [32, 32, 32],
          "channels": [8, 8, 8], "module_width": 32, "monitor_size": 64, "batch_size": 64,
          "lr_grid": [1e-3, 3e-3], "module_lr_grid": [1e-3, 3e-3],
          "sobolev_grid": ["raw:1", "norm:0.1"], "lr": 1e-3}  # fmt: skip

#: Presets: field overrides of the defaults. The MNIST and CIFAR-10 extras need
#: ``--set data_dir=DIR`` (and are meant for a GPU: ``--set device=cuda``).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": _QUICK,
    "full": {},
    "full-digits-1": {"tasks": ["digits/mlp/1"]},
    "full-mnist": {"tasks": ["mnist/mlp/3"], "hidden": [256, 256, 256], "module_width": 256,
                   "steps": 20000, "eval_every": 1000, "batch_size": 128},
    "full-cifar10": {"tasks": ["cifar10/cnn/3"], "channels": [32, 64, 128], "module_width": 128,
                     "steps": 30000,
                     "eval_every": 1000, "batch_size": 128},
}  # fmt: skip


def trial_hyperparameters(config: SGConfig, method: str, trial: int) -> dict[str, Any]:
    """The hyperparameters of ``method``'s trial number ``trial`` (0-based).

    Returns
    -------
    dict
        ``lr``, ``module_lr`` (None without modules), ``w_value`` and ``normalise``
        (None and False except for ``sobolev_critic``).
    """
    hp: dict[str, Any] = {"lr": config.lr, "module_lr": None, "w_value": None, "normalise": False}
    if method in ("backprop", "noprop"):
        hp["lr"] = config.lr_grid[trial]
    elif method == "sobolev_critic":
        w, norm = parse_sobolev_trial(config.sobolev_grid[trial])
        hp.update(module_lr=config.sobolev_module_lr, w_value=w, normalise=norm)
    else:
        hp["module_lr"] = config.module_lr_grid[trial]
    return hp


def _cell(config: SGConfig, task: str, method: str, act: str | None, trial: int, seed: int):
    shared = config.to_dict()
    return {
        **{k: shared[k] for k in CELL_FIELDS},
        "task": task,
        "method": method,
        "critic_activation": act,
        "trial": trial,
        **trial_hyperparameters(config, method, trial),
        "seed": seed,
    }


def cells(config: SGConfig) -> list[dict[str, Any]]:
    """Every cell, ordered seed, task, method, critic activation, trial (JSON-ready dicts).

    Seeds come first so that a run stopped part-way holds complete seeds.
    """
    out = []
    for seed in range(config.seeds):
        for task in config.tasks:
            for method in config.methods:
                acts = config.critic_activations if method in CRITIC_METHODS else (None,)
                for act in acts:
                    out += [
                        _cell(config, task, method, act, t, seed) for t in range(config.n_trials)
                    ]
    return out


def validate_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults into a (partial) cell and check every value.

    Parameters
    ----------
    cell : dict
        Keys of :data:`CELL_FIELDS` plus ``task`` (default "digits/mlp/3"), ``method``
        (default "sobolev_critic"), ``critic_activation`` (default relu for critics),
        ``trial`` (default 0), ``seed`` (default 0) and optionally the trial's
        ``lr``, ``module_lr``, ``w_value``, ``normalise`` (default: from ``trial``).

    Returns
    -------
    dict
        A complete cell (a new dict; ``cell`` is not modified), as :func:`cells` makes.

    Raises
    ------
    ValueError
        On an unknown key or any value :class:`SGConfig` refuses.
    """
    hp_keys = ("lr", "module_lr", "w_value", "normalise")
    known = (*CELL_FIELDS, "task", "method", "critic_activation", "trial", "seed", *hp_keys)
    unknown = set(cell) - set(known)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(known)}")
    task, method = cell.get("task", "digits/mlp/3"), cell.get("method", "sobolev_critic")
    parse_task(task)
    _one_of(method, "method", METHODS)
    act = cell.get("critic_activation", "relu" if method in CRITIC_METHODS else None)
    if method in CRITIC_METHODS:
        _one_of(act, "critic_activation", sorted(ACTIVATIONS))
    elif act is not None:
        raise ValueError(f"critic_activation must be None for method {method!r}, got {act!r}")
    seed = check_nonnegative_int(cell.get("seed", 0), "seed")
    trial = check_nonnegative_int(cell.get("trial", 0), "trial")
    shared = {k: cell[k] for k in CELL_FIELDS if k in cell}
    config = SGConfig(**shared, tasks=(task,), methods=(method,))
    if trial >= config.n_trials:
        raise ValueError(f"trial must be < {config.n_trials} (the default grids), got {trial}")
    out = _cell(config, task, method, act, trial, seed)
    for key in hp_keys:
        if key in cell:
            out[key] = cell[key]
    if method in MODULE_METHODS:
        out["module_lr"] = check_positive_float(out["module_lr"], "module_lr")
    out["lr"] = check_positive_float(out["lr"], "lr")
    if method == "sobolev_critic":
        w = out["w_value"]
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w < math.inf:
            raise ValueError(f"w_value must be a finite number >= 0, got {w!r}")
        if not isinstance(out["normalise"], bool):
            raise ValueError(f"normalise must be True or False, got {out['normalise']!r}")
    return out
