"""Headline comparisons (regular vs Sobolev) of every study, as plain-text tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sobolev_lab.paper_figs import _io

FILES = {
    "paper": {
        "regression": "regression/paper.json",
        "distillation": "distillation/full.json",
        "sg": "sg/digits.json",
        "universal": "approx/universal_full.json",
        "samples": "approx/samples_full.json",
    },
    "quick": {
        "regression": "regression/quick.json",
        "distillation": "distillation/quick.json",
        "sg": "sg/digits.json",
        "universal": "approx/universal_quick.json",
        "samples": "approx/samples_quick.json",
    },
}


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*map(str, r)) for r in rows]
    )


def regression(pay: dict) -> str:
    """Ratio regular / Sobolev of the test MSEs per function and size (> 1: Sobolev wins)."""
    steps = pay["config"]["steps"]
    rows = [r for r in pay["rows"] if r["steps"] == steps and r["method"] != "regular"]
    out = []
    for r in rows:
        out.append(
            [
                r["function"],
                r["n_train"],
                r["method"],
                f"{r['ratio_values']:.3g}",
                f"{r['ratio_gradients']:.3g}",
            ]
        )
    wins = sum(r["ratio_values"] > 1 for r in rows if r["method"] == "sobolev")
    total = sum(r["method"] == "sobolev" for r in rows)
    return (
        f"Regression: test MSE ratio regular / method (> 1: the method wins); Sobolev "
        f"wins on values in {wins} of {total} (function, size) cells\n"
        + _table(["function", "n", "method", "values", "gradients"], out)
    )


def distillation(pay: dict) -> str:
    """KL(teacher || student) and action error, regular vs Sobolev."""
    index = {(r["game"], r["fraction"], r["method"]): r for r in pay["rows"]}
    out = []
    for game, fraction in dict.fromkeys((g, f) for g, f, _ in index):
        reg, sob = index.get((game, fraction, "regular")), index.get((game, fraction, "sobolev"))
        if reg and sob:
            out.append(
                [
                    game,
                    fraction,
                    f"{reg['test_kl']:.3g}",
                    f"{sob['test_kl']:.3g}",
                    f"{reg['test_action_error']:.3g}",
                    f"{sob['test_action_error']:.3g}",
                ]
            )
    return "Distillation (held-out states; lower is better)\n" + _table(
        ["game", "fraction", "KL regular", "KL Sobolev", "err regular", "err Sobolev"], out
    )


def synthetic_gradients(pay: dict) -> str:
    """Final test accuracy per method and number of modules."""
    rows = pay["summary"]
    modules = sorted({r["modules"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    index = {(r["method"], r["modules"]): r for r in rows}
    out = [
        [m]
        + [
            f"{100 * index[(m, k)]['test_acc_mean']:.1f}" if (m, k) in index else "-"
            for k in modules
        ]
        for m in methods
    ]
    return f"Synthetic gradients ({pay['dataset']}): test accuracy [%]\n" + _table(
        ["method"] + [f"{k} module(s)" for k in modules], out
    )


def universal(pay: dict) -> str:
    """Fitted W^{1,2} error rates vs width (error ~ width^-a) per activation and method."""
    rows = [r for r in pay["summary"] if r["metric"] == "w12" and r["hidden_layers"] == 1]
    lowest = min((r["dim"], r["function"]) for r in rows)
    rows = [r for r in rows if (r["dim"], r["function"]) == lowest]
    out = [
        [
            r["function"],
            r["dim"],
            r["activation"],
            r["method"],
            "-" if r["rate"] is None else f"{r['rate']:.2f}",
            f"{r['last_error']:.3g}",
        ]
        for r in rows
    ]
    return "Universal approximation: W^{1,2} error ~ width^-a (one hidden layer)\n" + _table(
        ["function", "d", "activation", "method", "a", "error at widest"], out
    )


def samples(pay: dict) -> str:
    """Training points needed to reach a W^{1,2} error, and the saving over order 0."""
    out = []
    for r in pay["samples_to_target"]:
        if r["metric"] != "w12" or r["method"] == "order0":
            continue
        n = r["n_measured"]
        ratio = r["ratio_measured"]
        out.append(
            [
                r["dim"],
                r["method"],
                r["target"],
                "-" if n is None else f"{n:.0f}",
                "-" if ratio is None else f"{ratio:.2f}",
                r["heuristic_ratio"],
            ]
        )
    return (
        "Sample complexity: points to reach a relative W^{1,2} error (measured), saving "
        "n_order0 / n_method vs the counting heuristic C(d+k, k)\n"
        + _table(["d", "method", "target", "n", "saving", "heuristic"], out)
    )


SECTIONS: dict[str, Callable[[dict], str]] = {
    "regression": regression,
    "distillation": distillation,
    "sg": synthetic_gradients,
    "universal": universal,
    "samples": samples,
}


def headline(results: str | Path, preset: str = "paper") -> str:
    """The summary text for the result files of ``preset`` under ``results``."""
    parts = []
    for key, section in SECTIONS.items():
        path = Path(results) / FILES[preset][key]
        if not path.exists():
            parts.append(f"{key}: no results at {path}")
            continue
        try:
            parts.append(section(_io.payload(path)))
        except (KeyError, TypeError, ValueError) as exc:
            parts.append(f"{key}: could not summarise {path} ({exc!r})")
    return "\n\n".join(parts)
