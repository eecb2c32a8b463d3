"""Paired verdicts: Holm against a hand-computed case and statsmodels, CI coverage."""

import math

import numpy as np
import pytest
from scipy import stats

from sobolev_lab.stats import holm, paired_log_ratio, paired_verdicts


def test_holm_hand_computed():
    # Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([None, 0.2, None, 0.6]) == pytest.approx([None, 0.4, None, 0.6])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 30):
        p = rng.beta(0.5, 2.0, size)
        ref = multitest.multipletests(p, alpha=0.05, method="holm")[1]
        np.testing.assert_allclose(holm(p.tolist()), ref, rtol=1e-12)


def test_paired_log_ratio_is_a_t_test_of_log_ratios():
    rng = np.random.default_rng(1)
    b = np.exp(rng.normal(0, 1, 12))
    m = b * np.exp(rng.normal(-0.3, 0.5, 12))
    out = paired_log_ratio(b, m)
    r = np.log(b / m)
    ref = stats.ttest_1samp(r, 0.0)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    lo, hi = ref.confidence_interval(0.95)
    assert out["ci"] == pytest.approx([math.exp(lo), math.exp(hi)], rel=1e-10)
    assert out["ratio"] == pytest.approx(math.exp(r.mean()), rel=1e-12)


def test_ci_covers_a_known_ratio_at_the_nominal_rate():
    rng = np.random.default_rng(2026)
    true_ratio, n_seeds, trials = 1.7, 10, 2000
    covered = 0
    for _ in range(trials):
        # Seeds share a log-normal difficulty; the method's error is the baseline's over
        # the true ratio, times its own log-normal noise (mean log 0).
        base = np.exp(rng.normal(0.0, 1.0, n_seeds))
        meth = base / true_ratio * np.exp(rng.normal(0.0, 0.4, n_seeds))
        lo, hi = paired_log_ratio(base, meth)["ci"]
        covered += lo <= true_ratio <= hi
    assert 0.93 <= covered / trials <= 0.97


def test_verdicts_win_loss_tie_with_holm_across_the_table():
    rng = np.random.default_rng(3)
    base = np.exp(rng.normal(0, 1, 10))

    def comparison(cell, factor, noise=0.1):
        meth = base * factor * np.exp(rng.normal(0, noise, 10))
        return {
            "claim": "c",
            "cell": cell,
            "metric": "mse",
            "baseline": "regular",
            "method": "sobolev",
            "baseline_errors": base,
            "method_errors": meth,
        }

    table = [comparison("win", 0.2), comparison("loss", 5.0), comparison("tie", 1.0, 0.5)]
    out = paired_verdicts(table)
    assert [v["verdict"] for v in out] == ["win", "loss", "tie"]
    assert all(v["n_seeds"] == 10 for v in out)
    # The same weak effect is a win alone but a tie once Holm spreads alpha over 40 cells.
    weak = [comparison("weak", 0.93, 0.08)]
    single = paired_verdicts(weak)[0]
    assert single["p_value"] < 0.05 and single["verdict"] == "win"
    crowded = paired_verdicts(weak + [comparison(f"null{i}", 1.0, 0.5) for i in range(39)])
    assert crowded[0]["p_holm"] >= 0.05 and crowded[0]["verdict"] == "tie"
