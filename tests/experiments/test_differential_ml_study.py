"""The Differential ML study: the twin net's loss, the selection and convergence rules,
the data-efficiency read-out and a small run through the runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sobolev import SobolevLoss, Target
from sobolev_lab.experiments.differential_ml import STUDY
from sobolev_lab.experiments.differential_ml.markets import BachelierBasket
from sobolev_lab.experiments.differential_ml.nets import _Scale, converged, train_net
from sobolev_lab.experiments.differential_ml.summary import _paths_needed
from sobolev_lab.runner import report, run
from sobolev_lab.stats import VERDICT_KEYS

torch.set_num_threads(1)


def test_scaled_sobolev_loss_is_the_differential_ml_loss():
    # alpha MSE(v) + (1 - alpha) mean_j MSE(lambda_j (J_j - dv_j)), computed by hand in
    # float64, against SobolevLoss on the lambda-divided inputs (nets.py's construction).
    rng = np.random.default_rng(0)
    n, d = 50, 4
    u, v, dv = rng.normal(size=(n, d)), rng.normal(size=n), rng.normal(size=(n, d))
    lam = rng.uniform(0.5, 3.0, size=d)
    alpha = 1 / (1 + d)
    net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Softplus(), torch.nn.Linear(8, 1))
    net = net.double()
    model = torch.nn.Sequential(_Scale(lam, torch.float64), net)
    target = Target.from_arrays(torch.tensor(v), torch.tensor(dv * lam))
    loss = SobolevLoss(order=1, weights=(alpha, (1 - alpha) / d))
    got = float(loss(model, torch.tensor(u / lam), target).detach())
    ut = torch.tensor(u, requires_grad=True)
    pred = net(ut)[:, 0]
    (jac,) = torch.autograd.grad(pred.sum(), ut)
    pred, jac = pred.detach().numpy(), jac.numpy()
    want = alpha * np.mean((pred - v) ** 2)
    want += (1 - alpha) * np.mean((lam * (jac - dv)) ** 2)
    assert got == pytest.approx(want, rel=1e-10)


def test_converged_rule():
    flat = [1.0] * 75 + [0.999] * 25
    falling = list(np.linspace(1.0, 0.5, 100))
    assert converged(flat)
    assert not converged(falling)
    # Noise after the best epoch does not count: the best-so-far curve is used.
    assert converged([1.0, 0.5] + [0.7, 0.6] * 49)


def test_trained_net_delta_is_the_gradient_of_its_price():
    market = BachelierBasket(3, seed=1)
    x, y, dy = market.training_set(256, seed=0)
    xv, yv, _ = market.training_set(64, seed=1)
    net = train_net(x, y, dy, xv, yv, differential=True, lr=0.05, epochs=3, batches=4, seed=0)
    assert len(net.val_curve) == 3 and 0 <= net.best_epoch < 3
    xt, _, _ = market.test_set(5, seed=0)
    _, delta = net.predict(xt)
    h = 1e-2  # the net runs in float32: a wide step keeps round-off small
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd = (net.predict(xt + e)[0] - net.predict(xt - e)[0]) / (2 * h)
        np.testing.assert_allclose(delta[:, j], fd, rtol=2e-2, atol=2e-3)


def test_paths_needed_recovers_a_known_power_law():
    ns = [1000, 4000, 16000, 64000]
    curve = [2.0 * n**-0.5 for n in ns]
    value, extrapolated = _paths_needed(ns, curve, 2.0 * 8000**-0.5)
    assert value == pytest.approx(8000, rel=1e-9) and not extrapolated
    value, extrapolated = _paths_needed(ns, curve, 2.0 * 256000**-0.5)
    assert value == pytest.approx(256000, rel=1e-6) and extrapolated
    # Two sizes suffice to extend the line; a curve that does not fall gives None.
    value, extrapolated = _paths_needed(ns[:2], curve[:2], 2.0 * 16000**-0.5)
    assert value == pytest.approx(16000, rel=1e-9) and extrapolated
    assert _paths_needed(ns[:2], [1.0, 1.0], 0.5) == (None, True)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"classical_trials": [[0.1, 0.0]]}, "equal tuning budgets"),
        ({"market": "black_scholes"}, "black_scholes"),
        ({"ns": [1024, 256]}, "ns"),
        ({"seeds": 0}, "seeds"),
        ({"peers": ["rbf"]}, "peers"),
        ({"val_fraction": 0.0}, "val_fraction"),
    ],
)
def test_config_rejects_bad_fields(overrides, field):
    with pytest.raises(ValueError, match=field):
        STUDY.config(**overrides)


TINY = [
    "dims=[2]",
    "ns=[128,256,512]",
    "epochs=4",
    "batches=4",
    "min_batch=32",
    "n_test=128",
    "genn_iterations=20",
    "genn_max_rows=400",
    "projection_dims=[3]",
    "projection_n=128",
    "figure_dim=2",
    "figure_ns=[128]",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dml")
    return run(STUDY, "quick", TINY, out=out, name="tiny", progress=False), out


def test_run_fills_the_contract(tiny_run):
    outcome, _ = tiny_run
    pay = outcome.payload
    assert (outcome.folder / "result.md").exists() and (outcome.folder / "result.csv").exists()
    # 3 sizes x 2 metrics (twin vs classical) + 2 (the claim) + 3 (projections).
    assert len(pay["verdicts"]) == 6 + 2 + 3
    for v in pay["verdicts"]:
        assert set(VERDICT_KEYS) <= v.keys() and v["n_seeds"] == 2
    # Nets: 6 grid cells x 2 methods x 1 trial, 2 projection cells x 2, 1 figure cell x 2.
    assert pay["convergence"]["trainings"] == 12 + 4 + 2
    assert 0 <= pay["convergence"]["converged"] <= 18
    methods = {(r["n"], r["method"]) for r in pay["table"]}
    assert (128, "genn") in methods and (256, "genn") not in methods
    assert all(np.isfinite(r["value_rmse"]) and r["value_rmse"] > 0 for r in pay["table"])
    (curve,) = pay["curves"]
    assert len(curve["basket"]) == 21 and len(curve["differential"]["delta"]) == 21
    assert {r["metric"] for r in pay["data_efficiency"]} == {"value_rmse", "delta_rmse"}
    assert {r["peer"] for r in pay["feasibility"]} == {"genn"}
    cell = pay["cells"][0]["result"]["methods"]["classical"]
    assert cell["params"] == {"lr": 0.1, "weight_decay": 0.0} and len(cell["trials"]) == 1


def test_report_recomputes_the_tables(tiny_run):
    outcome, _ = tiny_run
    before = (outcome.folder / "result.md").read_text()
    again = report(STUDY, outcome.folder)
    assert (outcome.folder / "result.md").read_text() == before
    dump = lambda v: json.dumps(v, sort_keys=True)  # noqa: E731
    assert dump(again.payload["verdicts"]) == dump(outcome.payload["verdicts"])


def test_figure_draws_from_the_result(tiny_run, tmp_path):
    from sobolev_lab.paper_figs import differential_ml

    outcome, _ = tiny_run
    files = differential_ml.draw([outcome.folder / "result.json"], tmp_path)
    assert [f.name for f in files] == ["differential_ml.png", "differential_ml.pdf"]
    assert all(f.stat().st_size > 1000 for f in files)
