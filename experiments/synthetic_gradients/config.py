"""Configuration of one training cell and of a study: defaults, presets, validation.

A *cell* is one training run: ``(dataset, method, modules, seed)`` plus
hyper-parameters. A *study* is the grid ``methods x modules x seeds`` on one dataset.
Every value is checked before any training starts; bad values raise ``ValueError``
naming the key and what was expected.
"""

from __future__ import annotations

from typing import Any

from sobolev_lab.experiments.synthetic_gradients.data import DATASETS
from sobolev_lab.experiments.synthetic_gradients.models import ALLOWED_MODULES
from sobolev.models import ACTIVATIONS

__all__ = [
    "CELL_DEFAULTS",
    "DEVICES",
    "METHODS",
    "MODULE_METHODS",
    "PRESETS",
    "cell_configs",
    "study_config",
    "validate_cell",
]

METHODS = ("backprop", "noprop", "sg", "critic", "sobolev")
MODULE_METHODS = ("sg", "critic", "sobolev")
DEVICES = ("cpu", "cuda")

#: Hyper-parameters shared by every method (same architecture, optimiser and data).
CELL_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_dir": None,
    "method": "sobolev",
    "modules": 3,
    "seed": 0,
    "steps": 2000,
    "batch_size": 64,
    "optimizer": "adam",  # for the network stages: "adam" or "sgd" (momentum 0.9)
    "lr": 3e-4,  # learning rate of the network stages
    "module_lr": 1e-3,  # Adam, for the synthetic-gradient modules / critics
    "hidden": [256, 256, 256],  # MLP widths (digits, MNIST)
    "channels": [32, 64, 128],  # CNN block widths (CIFAR-10)
    "module_width": 256,  # hidden units (MLP cuts) or channels (CNN cuts) of a module
    "module_layers": 1,  # hidden layers of a module
    "sg_activation": "relu",
    "critic_activation": "relu",
    "conditioned": True,  # cDNI: modules see the one-hot label
    # (w_value, w_gradient) of the Sobolev critic, or "auto": sobolev.SobolevLoss's
    # per-batch balance (1/(1+d)/var(L), d/(1+d)/mean|dL/dh|^2, d = size of h).
    "sobolev_weights": [1.0, 1.0],
    "eval_every": 100,
    "monitor_size": 256,  # training samples used to measure gradient-prediction quality
    "eval_split": "test",  # "validation" holds out 1/6 of the training set instead
    "device": "cpu",
    "amp": False,
}

#: Presets: study size and per-dataset overrides of :data:`CELL_DEFAULTS`.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "seeds": 2,
        "cell": {
            "digits": {"steps": 60, "eval_every": 30, "hidden": [64, 64, 64],
                       "module_width": 64, "monitor_size": 128},
            "mnist": {"steps": 500, "eval_every": 100, "hidden": [256, 256, 256]},
            "cifar10": {"steps": 200, "eval_every": 50, "batch_size": 64},
        },
    },
    "full": {
        "seeds": 5,
        "cell": {
            "digits": {"steps": 1500, "eval_every": 100},
            "mnist": {"steps": 30000, "eval_every": 1000, "batch_size": 128},
            "cifar10": {"steps": 30000, "eval_every": 1000, "batch_size": 128,
                        "module_width": 128},
        },
    },
}  # fmt: skip


def _positive_int(cfg: dict, key: str, minimum: int = 1) -> None:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {v!r}")


def _positive_float(cfg: dict, key: str) -> None:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < float("inf"):
        raise ValueError(f"{key} must be a finite number > 0, got {v!r}")


def validate_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into a cell config and check every value.

    Returns
    -------
    dict
        A complete config (a new dict; ``config`` is not modified).

    Raises
    ------
    ValueError
        On an unknown key, method, dataset, device, activation, a number of modules
        outside :data:`ALLOWED_MODULES`, or a non-positive count or rate.
    """
    unknown = set(config) - set(CELL_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(CELL_DEFAULTS)}")
    cfg = {**CELL_DEFAULTS, **config}
    if cfg["dataset"] not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {cfg['dataset']!r}")
    if cfg["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {cfg['method']!r}")
    if isinstance(cfg["modules"], bool) or cfg["modules"] not in ALLOWED_MODULES:
        raise ValueError(f"modules must be one of {ALLOWED_MODULES}, got {cfg['modules']!r}")
    if isinstance(cfg["seed"], bool) or not isinstance(cfg["seed"], int) or cfg["seed"] < 0:
        raise ValueError(f"seed must be an integer >= 0, got {cfg['seed']!r}")
    for key in ("steps", "batch_size", "eval_every", "monitor_size", "module_width"):
        _positive_int(cfg, key)
    _positive_int(cfg, "module_layers", minimum=0)
    for key in ("lr", "module_lr"):
        _positive_float(cfg, key)
    for key, n in (("hidden", 3), ("channels", 3)):
        v = cfg[key]
        if (
            not isinstance(v, list | tuple)
            or len(v) != n
            or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in v)
        ):
            raise ValueError(f"{key} must be a list of {n} positive integers, got {v!r}")
        cfg[key] = list(v)
    for key in ("sg_activation", "critic_activation"):
        if cfg[key] not in ACTIVATIONS:
            raise ValueError(f"{key} must be one of {sorted(ACTIVATIONS)}, got {cfg[key]!r}")
    w = cfg["sobolev_weights"]
    if w == "auto":
        return _finish(cfg)
    if (
        not isinstance(w, list | tuple)
        or len(w) != 2
        or any(
            isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x < 1e300 for x in w
        )
    ):
        raise ValueError(f'sobolev_weights must be two finite numbers >= 0 or "auto", got {w!r}')
    cfg["sobolev_weights"] = [float(x) for x in w]
    return _finish(cfg)


def _finish(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg["optimizer"] not in ("adam", "sgd"):
        raise ValueError(f'optimizer must be "adam" or "sgd", got {cfg["optimizer"]!r}')
    if cfg["eval_split"] not in ("test", "validation"):
        raise ValueError(f'eval_split must be "test" or "validation", got {cfg["eval_split"]!r}')
    if cfg["device"] not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {cfg['device']!r}")
    for key in ("conditioned", "amp"):
        if not isinstance(cfg[key], bool):
            raise ValueError(f"{key} must be True or False, got {cfg[key]!r}")
    if cfg["data_dir"] is not None:
        cfg["data_dir"] = str(cfg["data_dir"])
    return cfg


def study_config(
    dataset: str = "digits",
    *,
    preset: str = "quick",
    methods: list[str] | tuple[str, ...] | None = None,
    modules: list[int] | tuple[int, ...] | None = None,
    seeds: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A complete, validated study config: the grid and the cell hyper-parameters.

    Parameters
    ----------
    dataset : {"digits", "mnist", "cifar10"}
    preset : {"quick", "full"}
    methods : sequence of str, optional
        Subset of :data:`METHODS` (default: all).
    modules : sequence of int, optional
        Subset of :data:`ALLOWED_MODULES` (default: all).
    seeds : int, optional
        Number of seeds 0..seeds-1 (default: the preset's).
    **overrides
        Keys of :data:`CELL_DEFAULTS` (except method, modules, seed).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    methods = list(METHODS if methods is None else methods)
    modules = list(ALLOWED_MODULES if modules is None else modules)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods must be a non-empty list without repeats, got {methods}")
    if not modules or len(set(modules)) != len(modules):
        raise ValueError(f"modules must be a non-empty list without repeats, got {modules}")
    seeds = PRESETS[preset]["seeds"] if seeds is None else seeds
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    for key in ("method", "modules", "seed"):
        if key in overrides:
            raise ValueError(f"{key!r} is set per cell; use methods=, modules=, seeds= instead")
    cell = {**PRESETS[preset]["cell"][dataset], **overrides, "dataset": dataset}
    study = {"preset": preset, "methods": methods, "modules": modules, "seeds": seeds, "cell": cell}
    cell_configs(study)  # validates every cell before anything runs
    return study


def cell_configs(study: dict[str, Any]) -> list[dict[str, Any]]:
    """The validated cell configs of a study, ordered method, modules, seed."""
    return [
        validate_cell({**study["cell"], "method": m, "modules": k, "seed": s})
        for m in study["methods"]
        for k in study["modules"]
        for s in range(study["seeds"])
    ]
