"""Summary and tables of the protocol runs (``protocol=true``), from per-seed payloads.

- ``rows``: per (function, n, method): mean and s.e.m. of the test MSEs of values and
  gradients over seeds, mean fit seconds per seed, the chosen configurations, the
  share of converged cross-validation trainings, final training losses and dead
  units of the refitted networks.
- ``verdicts``: two tables, each Holm-corrected on its own
  (:func:`sobolev_lab.stats.paired_verdicts`): every method and peer against
  ``regular``, and ``sobolev`` against every peer; values and gradients.
- ``best``: per (function, n), the method with the lowest mean test MSE of values and
  of gradients, and the fastest one, for the "which tool when" reading.
- ``convergence``: the protocol's criterion over every cross-validation training;
  ``convergence_by_activation`` splits it by training-set size and activation.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from sobolev_lab.experiments.regression.aggregate import SHORTS, label, row_key
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, fmt, markdown_table, verdict_table

__all__ = ["CSV_COLUMNS", "render", "summarise"]

CSV_COLUMNS = (
    "function", "dim", "n_train", "method", "n_seeds",
    "test_mse_values_mean", "test_mse_values_sem", "test_mse_gradients_mean",
    "test_mse_gradients_sem", "test_nmse_values_mean", "test_mse_values_away_mean",
    "test_mse_gradients_away_mean", "fit_seconds_mean", "converged_fraction",
    "dead_unit_fraction_mean", "train_loss_order0_mean", "train_loss_order1_mean", "chosen",
)  # fmt: skip


def _chosen(res: dict[str, Any]) -> str | None:
    """The chosen configurations over seeds, most frequent first (``config xcount``)."""
    if "selection" not in res:
        return None
    counts = Counter(json.dumps(s["chosen"], sort_keys=True) for s in res["selection"])
    return "; ".join(f"{k} x{c}" for k, c in counts.most_common())


def _rows(cells: Sequence[dict], payloads: Sequence[dict], order) -> list[dict[str, Any]]:
    rows = []
    for cell, pay in zip(cells, payloads, strict=True):
        # Stored payloads come back with sorted keys: rows follow the config's order.
        for method in (m for m in order if m in pay["methods"]):
            res = pay["methods"][method]
            if "failed" in res:
                continue
            row: dict[str, Any] = {**row_key(cell, method), "n_seeds": len(cell["seeds"])}
            for key in (
                "test_mse_values", "test_mse_gradients", "test_nmse_values",
                "test_mse_values_away", "test_mse_gradients_away", "fit_seconds",
                "train_loss_order0", "train_loss_order1",
            ):  # fmt: skip
                if key in res:
                    row[f"{key}_mean"], row[f"{key}_sem"] = mean_sem(res[key])
            dead = [x for x in res.get("dead_unit_fraction", []) if x is not None]
            row["dead_unit_fraction_mean"] = float(np.mean(dead)) if dead else None
            flags = res.get("converged")
            row["converged_fraction"] = float(np.mean(flags)) if flags else None
            row["chosen"] = _chosen(res)
            rows.append(row)
    return rows


def _comparisons(cells, payloads, pairs) -> list[dict[str, Any]]:
    out = []
    for cell, pay in zip(cells, payloads, strict=True):
        res = pay["methods"]
        for baseline, method in pairs:
            if any(m not in res or "failed" in res[m] for m in (baseline, method)):
                continue
            for short, metric in SHORTS:
                out.append(
                    {
                        "claim": f"{method} has a lower test MSE of {short} than {baseline}",
                        "cell": {"function": label(cell), "n_train": cell["n_train"]},
                        "metric": metric,
                        "baseline": baseline,
                        "method": method,
                        "baseline_errors": res[baseline][metric],
                        "method_errors": res[method][metric],
                    }
                )
    return out


def _best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["function"], r["n_train"]), []).append(r)
    out = []
    for (fn, n), rs in cells.items():
        entry = {"function": fn, "n_train": n}
        for short, metric in SHORTS:
            b = min(rs, key=lambda r, m=metric: r[f"{m}_mean"])
            entry[f"best_{short}"], entry[f"best_{short}_mse"] = b["method"], b[f"{metric}_mean"]
        fast = min(rs, key=lambda r: r["fit_seconds_mean"])
        entry["fastest"], entry["fastest_seconds"] = fast["method"], fast["fit_seconds_mean"]
        out.append(entry)
    return out


def _convergence_by_activation(cells: Sequence[dict], payloads: Sequence[dict]) -> list[dict]:
    """Converged CV trainings per (n_train, activation), over functions and methods."""
    from sobolev_lab.experiments.regression.protocol_cell import converged_by_activation

    counts: dict[tuple[int, str], list[int]] = {}
    for cell, pay in zip(cells, payloads, strict=True):
        for method, res in pay["methods"].items():
            if not res.get("converged"):
                continue
            for act, flags in converged_by_activation(cell, method, res["converged"]).items():
                c = counts.setdefault((cell["n_train"], act), [0, 0])
                c[0] += sum(bool(f) for f in flags)
                c[1] += len(flags)
    return [
        {"n_train": n, "activation": act, "converged": ok, "trainings": total}
        for (n, act), (ok, total) in sorted(counts.items())
    ]


def summarise(config, cells: list[dict], payloads: list[dict]) -> dict[str, Any]:
    """The summary of a protocol run (see the module docstring)."""
    from sobolev_lab.protocol import CRITERION, convergence_record

    methods = [*config.methods, *config.peers]
    vs_regular = [("regular", m) for m in methods if m != "regular"]
    vs_peers = [(p, "sobolev") for p in config.peers] if "sobolev" in config.methods else []
    flags = [
        f for pay in payloads for res in pay["methods"].values() for f in res.get("converged", [])
    ]
    conv = convergence_record(flags)
    conv["criterion"] = (
        f"{CRITERION}; judged on every cross-validation training of the network methods "
        "(the refits train for the chosen config's median best step and have no held-out data)"
    )
    rows = _rows(cells, payloads, methods)
    return {
        "rows": rows,
        "verdicts": paired_verdicts(_comparisons(cells, payloads, vs_regular))
        + paired_verdicts(_comparisons(cells, payloads, vs_peers)),
        "best": _best(rows),
        "failures": [
            {"function": label(c), "n_train": c["n_train"], "method": m, "error": r["failed"]}
            for c, p in zip(cells, payloads, strict=True)
            for m, r in p["methods"].items()
            if "failed" in r
        ],
        "convergence": conv,
        "convergence_by_activation": _convergence_by_activation(cells, payloads),
        "protocol": {
            "folds": config.folds,
            "candidates_per_method": len(config.lrs)
            * len(config.regular_weight_decays)
            * len(config.activations),
            "steps": config.steps,
            "eval_every": config.eval_every,
            "patience": config.patience,
            "selection_metric": "mean held-out value MSE over the folds (standardised units)",
            "regular_weight_decays": list(config.regular_weight_decays),
        },
    }


def _g(x: Any) -> str:
    return fmt(x, 3)


def _failures(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return ""
    lines = [f"- {f['function']} n = {f['n_train']}, {f['method']}: {f['error']}" for f in failures]
    return "## Failed peer fits (left out of every table)\n\n" + "\n".join(lines) + "\n\n"


def _by_activation(rows: list[dict[str, Any]] | None) -> str:
    if not rows:
        return ""
    table = markdown_table(
        ["n", "activation", "converged", "share"],
        [[r["n_train"], r["activation"], f"{r['converged']} of {r['trainings']}",
          f"{r['converged'] / r['trainings']:.1%}"] for r in rows],
    )  # fmt: skip
    return f"\nBy training-set size and activation (every network method):\n\n{table}\n"


def render(config, summary: dict[str, Any]) -> dict[str, str]:
    """``result.csv`` (every row) and ``result.md`` (results, verdicts, best per cell)."""
    rows = summary["rows"]
    csv = csv_text(
        [{k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows],
        CSV_COLUMNS,
    )
    table = markdown_table(
        ["function", "n", "method", "value MSE", "gradient MSE", "fit s/seed", "converged",
         "dead units", "chosen (most frequent)"],
        [
            [r["function"], r["n_train"], r["method"],
             f"{_g(r['test_mse_values_mean'])} ± {_g(r['test_mse_values_sem'])}",
             f"{_g(r['test_mse_gradients_mean'])} ± {_g(r['test_mse_gradients_sem'])}",
             _g(r["fit_seconds_mean"]),
             "-" if r["converged_fraction"] is None else f"{r['converged_fraction']:.0%}",
             "-" if r["dead_unit_fraction_mean"] is None else f"{r['dead_unit_fraction_mean']:.0%}",
             "-" if r["chosen"] is None else r["chosen"].split(";")[0]]
            for r in rows
        ],
    )  # fmt: skip
    best = markdown_table(
        ["function", "n", "best values (MSE)", "best gradients (MSE)", "fastest (s/seed)"],
        [
            [b["function"], b["n_train"], f"{b['best_values']} ({_g(b['best_values_mse'])})",
             f"{b['best_gradients']} ({_g(b['best_gradients_mse'])})",
             f"{b['fastest']} ({_g(b['fastest_seconds'])})"]
            for b in summary["best"]
        ],
    )  # fmt: skip
    conv = summary["convergence"]
    counts = Counter(
        (v["baseline"], v["method"], v["metric"], v["verdict"]) for v in summary["verdicts"]
    )
    pairs = sorted({(b, m) for b, m, _, _ in counts})
    tally = markdown_table(
        ["baseline", "method", "values win/tie/loss", "gradients win/tie/loss"],
        [
            [b, m, *("/".join(str(counts[(b, m, met, v)]) for v in ("win", "tie", "loss"))
                     for _, met in SHORTS)]
            for b, m in pairs
        ],
    )  # fmt: skip
    md = (
        f"# Regression under the protocol: {config.seeds} seeds, {config.folds}-fold CV, "
        f"{summary['protocol']['candidates_per_method']} candidates per method\n\n"
        f"Test MSE (original units, mean ± s.e.m. over seeds); fit seconds per seed "
        f"(networks: the batched CV and refit wall time shared out per seed).\n\n{table}\n"
        f"\n## Best per cell\n\n{best}\n\n## Verdict counts\n\n{tally}\n"
        f"\n## Paired verdicts (Holm within each baseline family)\n\n"
        f"{verdict_table(summary['verdicts'])}\n"
        f"{_failures(summary.get('failures', []))}"
        f"## Convergence\n\n{conv['converged']} of {conv['trainings']} trainings converged: "
        f"{conv['criterion']}.\n{_by_activation(summary.get('convergence_by_activation'))}"
    )
    return {"result.csv": csv, "result.md": md}
