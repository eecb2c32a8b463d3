"""The regression study's config, presets, cells and per-seed standardisation."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sobolev_lab.experiments.regression import STUDY, cells
from sobolev_lab.experiments.regression.config import (
    EXTENDED_FUNCTIONS,
    PAPER_FUNCTIONS,
    RegressionConfig,
)
from sobolev_lab.results import config_hash, read_result

RESULTS = Path(__file__).resolve().parents[2] / "results" / "regression"


def test_spelled_out_function_lists_match_the_registry():
    from sobolev_lab.theory.functions import PAPER_FUNCTIONS as REGISTRY_PAPER
    from sobolev_lab.theory.functions import generic_names, names

    assert PAPER_FUNCTIONS == tuple(REGISTRY_PAPER)
    extended = [*names(), *(f"{n}:{d}" for d in (4, 8) for n in generic_names())]
    assert list(EXTENDED_FUNCTIONS) == extended


@pytest.mark.parametrize("preset", ["fixed", "fixed-extended", "full", "agreement"])
def test_shipped_results_are_the_presets_and_their_cells(preset):
    doc = read_result(RESULTS / preset / "result.json")
    config = STUDY.preset(preset)
    # Fields added since (the protocol's, first_seed) take their defaults.
    assert {k: v for k, v in config.to_dict().items() if k in doc["config"]} == doc["config"]
    assert STUDY.config.from_dict(doc["config"]) == config
    assert config.protocol == (preset in ("full", "agreement"))
    assert doc["payload"]["preset"] == preset
    # Cell dicts (and so their hashes and cell files) are those of the shipped run.
    stored = [c["cell"] for c in doc["payload"]["cells"]]
    assert [config_hash(c) for c in cells(config)] == [config_hash(c) for c in stored]


def test_presets_and_defaults():
    full, ext, quick = (STUDY.preset(p) for p in ("fixed", "fixed-extended", "quick"))
    assert full.convergence_check and full.seeds == 10 and full.steps == 1000
    assert full.functions == PAPER_FUNCTIONS and full.n_train == (20, 100)
    assert not ext.convergence_check and ext.seeds == 5 and len(ext.functions) == 38
    assert len(cells(full)) == 7 * 2 * 2 and len(cells(ext)) == 38 * 2
    assert len(cells(quick)) == 2
    # Lists become tuples and round-trip through JSON.
    assert RegressionConfig.from_dict(json.loads(json.dumps(full.to_dict()))) == full
    with pytest.raises(ValueError, match="unknown field"):
        RegressionConfig.from_dict({**full.to_dict(), "name": "paper"})


def test_agreement_preset_uses_other_functions_and_seeds_than_the_protocol_run():
    shipped, again = STUDY.preset("full"), STUDY.preset("agreement")
    assert not set(again.functions) & set(shipped.functions)
    seeds = {s for c in cells(shipped) for s in c["seeds"]}
    fresh = {s for c in cells(again) for s in c["seeds"]}
    assert len(fresh) == again.seeds >= 10 and not seeds & fresh
    # Apart from functions, sizes and seeds it is the same protocol.
    keep = {"functions", "n_train", "first_seed"}
    assert {k: v for k, v in again.to_dict().items() if k not in keep} == {
        k: v for k, v in shipped.to_dict().items() if k not in keep
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": True}, "seeds"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (16, 0)}, "hidden"),
        ({"kink_margin": 1.0}, "kink_margin"),
        ({"normalise": 1}, "normalise"),
        ({"functions": ("booth", "booth")}, "duplicates"),
        ({"functions": ()}, "functions"),
        ({"grid_size": 1}, "grid_size"),
        ({"schedule": "linear"}, "schedule"),
        ({"lr": -1e-3}, "lr"),
        ({"first_seed": -1}, "first_seed"),
    ],
)
def test_config_rejects_bad_fields(change, message):
    with pytest.raises(ValueError, match=message):
        RegressionConfig(**change)


def test_listing_the_study_imports_no_training_code():
    # `sobolev list` imports every study: the function registry (sympy) and the training
    # code load only when a config is validated or a cell runs.
    code = (
        "import sys; from sobolev_lab.experiments.regression import STUDY; "
        "print([m for m in ('sympy', 'sobolev_lab.experiments.regression.study') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_per_seed_standardisation_against_the_chain_rule_by_hand():
    from sobolev_lab.experiments.regression.study import _backward, _forward, _standardizers
    from sobolev_lab.theory.functions import get

    f = get("beale")
    rng = np.random.default_rng(0)
    x = np.stack([f.sample(7, rng=rng) for _ in range(3)])  # (E, N, d)
    y = np.stack([f.value(xe) for xe in x])
    g = np.stack([f.grad(xe) for xe in x])
    lower, upper = (np.asarray(b, dtype=np.float64) for b in f.domain)
    c, r = (lower + upper) / 2, (upper - lower) / 2
    mu, sd = y.mean(1), y.std(1)
    scs = _standardizers(f, y, normalise=True)
    u, v, dv = _forward(scs, x, y, g)
    np.testing.assert_allclose(u, (x - c) / r, rtol=1e-14)
    np.testing.assert_allclose(v, (y - mu[:, None]) / sd[:, None], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dv, g * r / sd[:, None, None], rtol=1e-13)
    y_back, g_back = _backward(scs, v, dv)
    # Round trips lose digits only relative to each seed's spread of values (cancellation).
    np.testing.assert_allclose(y_back, y, rtol=1e-12, atol=1e-12 * np.abs(y).max())
    np.testing.assert_allclose(g_back, g, rtol=1e-12, atol=1e-12 * np.abs(g).max())
    # Without normalisation every map is the identity.
    ident = _standardizers(f, y, normalise=False)
    u0, v0, dv0 = _forward(ident, x, y, g)
    assert np.array_equal(u0, x) and np.array_equal(v0, y) and np.array_equal(dv0, g)
