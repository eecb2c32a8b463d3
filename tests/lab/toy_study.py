"""A tiny study under the contract, for the runner's tests (seconds, no torch training)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from sobolev._validation import check_nonnegative_int, check_positive_int
from sobolev_lab.config import StudyConfig, param
from sobolev_lab.stats import paired_verdicts
from sobolev_lab.study import Study
from sobolev_lab.tables import csv_text, verdict_table


@dataclass(frozen=True)
class ToyConfig(StudyConfig):
    """Two "methods" whose errors differ by a known factor."""

    seeds: int = param(4, "paired seeds")
    factor: float = param(2.0, "baseline error / method error")
    sizes: tuple[int, ...] = param([10, 20], "one cell per size and seed")
    fail_size: int | None = param(None, "a size whose cells raise (failure-policy tests)")
    sleep: float = param(0.0, "seconds each cell sleeps (SIGKILL tests)")
    label: str = param("toy", "a free-text label")
    fast: bool = param(False, "a boolean field")

    def validate(self) -> None:
        check_positive_int(self.seeds, "seeds")
        if self.factor <= 0:
            raise ValueError(f"factor must be positive, got {self.factor!r}")
        for s in self.sizes:
            check_nonnegative_int(s, "sizes")


def cells(config: ToyConfig) -> list[dict]:
    return [
        {
            "size": n,
            "seed": s,
            "factor": config.factor,
            "fail": n == config.fail_size,
            "sleep": config.sleep,
        }
        for n in config.sizes
        for s in range(config.seeds)
    ]


def run_cell(cell: dict) -> dict:
    if cell["fail"]:
        raise RuntimeError(f"size {cell['size']} fails on purpose")
    time.sleep(cell["sleep"])
    rng = np.random.default_rng([cell["size"], cell["seed"]])
    base = float(np.exp(rng.normal()))
    return {
        "baseline": base,
        "method": base / cell["factor"] * float(np.exp(0.01 * rng.normal())),
        "pid": os.getpid(),
    }


def summarise(config: ToyConfig, cells_: list[dict], payloads: list[dict]) -> dict:
    comparisons = []
    for n in config.sizes:
        pairs = [p for c, p in zip(cells_, payloads, strict=True) if c["size"] == n]
        comparisons.append(
            {
                "claim": "method beats baseline",
                "cell": {"size": n},
                "metric": "error",
                "baseline": "baseline",
                "method": "method",
                "baseline_errors": [p["baseline"] for p in pairs],
                "method_errors": [p["method"] for p in pairs],
            }
        )
    return {
        "rows": [
            {"size": v["cell"]["size"], "ratio": v["ratio"]} for v in paired_verdicts(comparisons)
        ],
        "verdicts": paired_verdicts(comparisons),
        "convergence": {"trainings": len(cells_), "converged": None, "criterion": "no training"},
    }


def render(config: ToyConfig, summary: dict) -> dict[str, str]:
    return {
        "result.csv": csv_text(summary["rows"]),
        "result.md": verdict_table(summary["verdicts"]),
    }


STUDY = Study(
    name="toy",
    description="a toy study for tests",
    config=ToyConfig,
    presets={"quick": {"seeds": 3}, "full": {}, "large": {"seeds": 8}},
    cells=cells,
    run_cell=run_cell,
    summarise=summarise,
    render=render,
)
