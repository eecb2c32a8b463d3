"""Summary and tables of the Differential ML study, from the cells' payloads only.

* ``table``: per (d, n, method) mean ± standard error over seeds of the value and delta
  RMSEs and the fit time;
* ``verdicts``: twin vs classical per (d, n, metric), and Huge & Savine's claim (twin at
  the smallest n vs classical at the largest) per (d, metric), Holm-corrected per table;
  projections=1 vs the full gradient per d in a third table;
* ``data_efficiency``: per d and metric, the paths the classical net needs to reach the
  twin net's error at the smallest n (log-log interpolation of each seed's classical
  curve, its log-log line extended past the largest n, flagged), geometric mean over
  seeds with a bootstrap interval;
* ``exponents``: ``error ~ C n^-a`` per (d, method, metric);
* ``feasibility``: which peers ran at which ``n (d + 1)`` and their fit time;
* ``curves``: the figure's predicted price and delta along the test baskets.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from sobolev_lab.curves import crossing_point, fit_power_law
from sobolev_lab.stats import mean_sem, paired_verdicts
from sobolev_lab.tables import csv_text, fmt, markdown_table, pm, verdict_table
from sobolev_lab.theory.constructions import fitted_rate

METRICS = ("value_rmse", "delta_rmse")
CRITERION = (
    "best held-out value MSE improved by < 1% over the last quarter of the epochs "
    "(every net trial counted, selected or not)"
)


def _grid(cells, payloads):
    """{(d, n): {method: [payload per seed]}} with seeds in order, and the skipped peers."""
    table = defaultdict(lambda: defaultdict(list))
    skipped = defaultdict(dict)
    for c, p in zip(cells, payloads, strict=True):
        if c["kind"] != "grid":
            continue
        for m, rec in p["methods"].items():
            table[(c["d"], c["n"])][m].append(rec)
        for m, why in p["skipped"].items():
            skipped[(c["d"], c["n"])][m] = why
    return table, skipped


def _convergence(cells, payloads) -> dict:
    flags = []
    for p in payloads:
        for rec in p["methods"].values():
            if "trials" in rec:
                flags += [t["converged"] for t in rec["trials"] if "converged" in t]
            elif "converged" in rec:
                flags.append(rec["converged"])
    return {"trainings": len(flags), "converged": int(sum(flags)), "criterion": CRITERION}


def _mean_rows(groups, keys) -> list[dict]:
    """Mean ± s.e. over seeds of ``keys``, one row per ((d, n), method)."""
    rows = []
    for (d, n), methods in sorted(groups.items()):
        for m, recs in methods.items():
            row = {"d": d, "n": n, "method": m, "n_seeds": len(recs)}
            for key in keys:
                row[key], row[key + "_sem"] = mean_sem([r[key] for r in recs])
            rows.append(row)
    return rows


def _comparison(claim, cell, metric, baseline, method, baseline_recs, method_recs) -> dict:
    """One paired comparison for :func:`sobolev_lab.stats.paired_verdicts`."""
    return {
        "claim": claim,
        "cell": cell,
        "metric": metric,
        "baseline": baseline,
        "method": method,
        "baseline_errors": [r[metric] for r in baseline_recs],
        "method_errors": [r[metric] for r in method_recs],
    }


def _comparisons(table, dims, ns) -> list[dict]:
    claim = "twin net (values + deltas) beats the classical net"
    comps = []
    for d in dims:
        for n in ns:
            cell = table.get((d, n), {})
            if "classical" in cell and "differential" in cell:
                comps += [
                    _comparison(claim, {"d": d, "n": n}, metric, "classical", "differential",
                                cell["classical"], cell["differential"])
                    for metric in METRICS
                ]  # fmt: skip
    return comps


def _claim_comparisons(table, dims, ns) -> list[dict]:
    lo, hi = ns[0], ns[-1]
    claim = f"Huge & Savine: twin net on {lo} paths beats classical on {hi}"
    comps = []
    for d in dims:
        if (d, lo) in table and (d, hi) in table and lo != hi:
            comps += [
                _comparison(claim, {"d": d, "n_twin": lo, "n_classical": hi}, metric,
                            f"classical n={hi}", f"differential n={lo}",
                            table[(d, hi)]["classical"], table[(d, lo)]["differential"])
                for metric in METRICS
            ]  # fmt: skip
    return comps


def _projection_comparisons(cells, payloads) -> tuple[list[dict], list[dict]]:
    claim = "one random projection matches the full gradient (error; cost)"
    by_d = defaultdict(lambda: defaultdict(list))
    for c, p in zip(cells, payloads, strict=True):
        if c["kind"] == "projections":
            for m, rec in p["methods"].items():
                by_d[(c["d"], c["n"])][m].append(rec)
    comps = [
        _comparison(claim, {"d": d, "n": n}, metric, "full gradient", "projections=1",
                    methods["differential"], methods["projections_1"])
        for (d, n), methods in sorted(by_d.items())
        for metric in (*METRICS, "fit_seconds")
    ]  # fmt: skip
    return comps, _mean_rows(by_d, (*METRICS, "fit_seconds"))


def _paths_needed(ns, classical, target) -> tuple[float | None, bool]:
    """Paths at which one seed's classical curve reaches ``target``; extrapolated flag.

    Past the largest ``n`` the seed's own log-log line (least squares over its sizes,
    two sizes suffice) is extended; None when that line does not fall.
    """
    hit = crossing_point(ns, classical, target)
    if hit is not None:
        return hit, False
    if len(ns) < 2:
        return None, True
    logn, loge = np.log(np.asarray(ns, float)), np.log(np.asarray(classical, float))
    slope = fitted_rate(ns, classical)
    if not slope < 0:
        return None, True
    log_c = loge.mean() - slope * logn.mean()
    return float(math.exp((math.log(target) - log_c) / slope)), True


def _data_efficiency(table, dims, ns, seed: int = 0, resamples: int = 2000) -> list[dict]:
    rows = []
    if len(ns) < 2:
        return rows
    rng = np.random.default_rng(seed)
    for d in dims:
        if any((d, n) not in table for n in ns):
            continue
        for metric in METRICS:
            curves = np.array([[r[metric] for r in table[(d, n)]["classical"]] for n in ns]).T
            targets = [r[metric] for r in table[(d, ns[0])]["differential"]]
            needed, extra = [], 0
            for curve, target in zip(curves, targets, strict=True):
                value, extrapolated = _paths_needed(ns, curve, target)
                extra += bool(extrapolated)
                needed.append(value)
            row = {"d": d, "metric": metric, "n_twin": ns[0], "n_seeds": len(needed)}
            row["seeds_extrapolated"] = extra
            ok = np.array([v for v in needed if v is not None and v > 0], dtype=np.float64)
            row["seeds_unreachable"] = len(needed) - ok.size
            if ok.size:
                logs = np.log(ok)
                boot = logs[rng.integers(0, ok.size, size=(resamples, ok.size))].mean(1)
                row["paths_needed"] = math.exp(logs.mean())
                row["ci95"] = [
                    math.exp(np.quantile(boot, 0.025)),
                    math.exp(np.quantile(boot, 0.975)),
                ]
                row["per_seed"] = ok.tolist()
            else:
                row["paths_needed"], row["ci95"], row["per_seed"] = None, [None, None], []
            rows.append(row)
    return rows


def _exponents(table, dims, ns) -> list[dict]:
    rows = []
    methods = sorted({m for cell in table.values() for m in cell})
    for d in dims:
        for m in methods:
            have = [n for n in ns if m in table.get((d, n), {})]
            if len(have) < 2:
                continue
            seeds = min(len(table[(d, n)][m]) for n in have)
            for metric in METRICS:
                err = np.array([[r[metric] for r in table[(d, n)][m][:seeds]] for n in have]).T
                if not np.all(err > 0):
                    continue
                fit = fit_power_law(have, err)
                rows.append(
                    {"d": d, "method": m, "metric": metric, "exponent": fit.exponent}
                    | {"ci95": list(fit.exponent_ci), "r2": fit.r2, "ns": have}
                )
    return rows


def _feasibility(table, skipped, dims, ns) -> list[dict]:
    rows = []
    for d in dims:
        for n in ns:
            for m in ("genn", "gekpls", "krg"):
                if m in table.get((d, n), {}):
                    secs = mean_sem([r["tuning_seconds"] for r in table[(d, n)][m]])[0]
                    rows.append({"d": d, "n": n, "peer": m, "ran": True, "tuning_seconds": secs})
                elif m in skipped.get((d, n), {}):
                    rows.append({"d": d, "n": n, "peer": m, "ran": False, "tuning_seconds": None})
    for r in rows:
        r["rows"] = r["n"] if r["peer"] == "krg" else r["n"] * (r["d"] + 1)
    return rows


def summarise(config, cells: list[dict], payloads: list[dict]) -> dict:
    """Tables, verdicts, data efficiency, exponents, feasibility and figure curves."""
    table, skipped = _grid(cells, payloads)
    dims, ns = list(config.dims), list(config.ns)
    verdicts = paired_verdicts(_comparisons(table, dims, ns))
    verdicts += paired_verdicts(_claim_comparisons(table, dims, ns))
    proj_comps, proj_rows = _projection_comparisons(cells, payloads)
    verdicts += paired_verdicts(proj_comps)
    curves = [
        {"d": c["d"], "n": c["n"], **p["curves"]}
        for c, p in zip(cells, payloads, strict=True)
        if c["kind"] == "figure"
    ]
    return {
        "table": _mean_rows(table, (*METRICS, "fit_seconds", "tuning_seconds")),
        "verdicts": verdicts,
        "convergence": _convergence(cells, payloads),
        "data_efficiency": _data_efficiency(table, dims, ns),
        "exponents": _exponents(table, dims, ns),
        "feasibility": _feasibility(table, skipped, dims, ns),
        "projections": proj_rows,
        "curves": curves,
    }


def _pm(row, key, scale=1.0, spec=".3f"):
    sem = row[key + "_sem"]
    return pm(row[key] * scale, None if sem is None else sem * scale, spec)


def render(config, summary: dict) -> dict[str, str]:
    """``result.csv`` (the main table) and ``result.md`` (every table)."""
    md = "# Differential ML: twin vs classical networks on noisy pathwise labels\n\n"
    md += (
        f"Market {config.market} (seed {config.market_seed}); RMSE against the analytic price "
        f"and delta on {config.n_test} test spots, x100; mean ± s.e. over seeds; fit time of "
        "the selected trial and of all trials (tuning), seconds.\n\n"
    )
    md += markdown_table(
        ["d", "n", "method", "seeds", "value RMSE x100", "delta RMSE x100", "fit s", "tuning s"],
        [
            [r["d"], r["n"], r["method"], r["n_seeds"], _pm(r, "value_rmse", 100),
             _pm(r, "delta_rmse", 100), _pm(r, "fit_seconds", 1, ".1f"),
             _pm(r, "tuning_seconds", 1, ".1f")]
            for r in summary["table"]
        ],
    )  # fmt: skip
    md += "\n## Verdicts (ratio = baseline error / method error; Holm per table)\n\n"
    md += verdict_table(summary["verdicts"])
    md += "\n## Data efficiency: classical paths needed to match the twin net\n\n"
    md += markdown_table(
        ["d", "metric", "twin n", "classical paths needed", "95% CI", "x twin n", "extrapolated"],
        [
            [r["d"], r["metric"], r["n_twin"], fmt(r["paths_needed"]),
             "-" if r["ci95"][0] is None else f"[{fmt(r['ci95'][0])}, {fmt(r['ci95'][1])}]",
             fmt(None if r["paths_needed"] is None else r["paths_needed"] / r["n_twin"]),
             f"{r['seeds_extrapolated']}/{r['n_seeds']}"]
            for r in summary["data_efficiency"]
        ],
    )  # fmt: skip
    md += "\n## Error vs n: fitted exponents a in error ~ C n^-a\n\n"
    md += markdown_table(
        ["d", "method", "metric", "a", "95% CI", "R^2", "n used"],
        [
            [r["d"], r["method"], r["metric"], fmt(r["exponent"]),
             f"[{fmt(r['ci95'][0])}, {fmt(r['ci95'][1])}]", fmt(r["r2"]),
             f"{min(r['ns'])}-{max(r['ns'])}"]
            for r in summary["exponents"]
        ],
    )  # fmt: skip
    md += "\n## Peers: where they ran (rows = n for KRG, n (d + 1) otherwise)\n\n"
    md += markdown_table(
        ["d", "n", "peer", "rows", "ran", "tuning s"],
        [
            [r["d"], r["n"], r["peer"], r["rows"], "yes" if r["ran"] else "no",
             fmt(r["tuning_seconds"])]
            for r in summary["feasibility"]
        ],
    )  # fmt: skip
    if summary["projections"]:
        md += "\n## Stochastic projections (projections=1) vs the full gradient\n\n"
        md += markdown_table(
            ["d", "n", "method", "seeds", "value RMSE x100", "delta RMSE x100", "fit s"],
            [
                [r["d"], r["n"], r["method"], r["n_seeds"], _pm(r, "value_rmse", 100),
                 _pm(r, "delta_rmse", 100), _pm(r, "fit_seconds", 1, ".1f")]
                for r in summary["projections"]
            ],
        )  # fmt: skip
    conv = summary["convergence"]
    md += f"\nConverged: {conv['converged']} of {conv['trainings']} trainings "
    md += f"({conv['criterion']}).\n"
    return {"result.csv": csv_text(summary["table"]), "result.md": md}
