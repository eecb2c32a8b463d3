"""fit and MLP: convergence, determinism, minibatches, errors."""

import math

import numpy as np
import pytest
import torch

import sobolev as sb


def quadratic(x):
    return (x**2).sum(1)


def test_sobolev_fit_learns_values_and_gradients_of_a_smooth_function():
    gen = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(64, 2, generator=gen) - 1
    model = sb.MLP(2, 1, (32, 32), "tanh", seed=0)
    hist = sb.fit(model, x, sb.Target.from_function(quadratic), steps=600, lr=1e-2, progress=False)
    assert set(hist) == {"total", "order0", "order1", "lr"} and len(hist["total"]) == 600
    assert hist["total"][-1] < 0.01 * hist["total"][0]
    xt = 2 * torch.rand(200, 2, generator=gen) - 1
    _, J = sb.value_and_jacobian(model, xt, create_graph=False)
    assert ((J[:, 0] - 2 * xt) ** 2).sum(1).mean() < 0.05


def test_same_seed_gives_identical_history_and_weights():
    x = torch.rand(40, 3)
    target = sb.Target.from_function(quadratic)
    runs = []
    for _ in range(2):
        model = sb.MLP(3, 1, (16,), "softplus", seed=7)
        hist = sb.fit(
            model,
            x,
            target,
            loss=sb.SobolevLoss(order=1, projections=1),
            steps=30,
            batch_size=16,
            seed=3,
            progress=False,
        )
        runs.append((hist, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    other = sb.MLP(3, 1, (16,), "softplus", seed=7)
    hist = sb.fit(
        other,
        x,
        target,
        loss=sb.SobolevLoss(order=1, projections=1),
        steps=30,
        batch_size=16,
        seed=4,
        progress=False,
    )
    assert hist["total"] != runs[0][0]["total"]


def test_fit_leaves_global_random_state_untouched():
    model, x = sb.MLP(2, 1, (4,)), torch.rand(8, 2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sb.fit(model, x, sb.Target.from_function(quadratic), steps=3, batch_size=4, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_minibatches_with_array_targets_and_cosine_schedule():
    x = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    target = sb.Target.from_arrays((x**2).sum(1), 2 * x)
    model = sb.MLP(2, 1, (16, 16), "tanh", seed=0, dtype=torch.float64)
    hist = sb.fit(
        model, x, target, steps=200, lr=1e-2, batch_size=10, schedule="cosine", progress=False
    )
    assert hist["lr"][0] == pytest.approx(1e-2) and hist["lr"][-1] < 1e-4
    assert np.mean(hist["total"][-10:]) < 0.2 * np.mean(hist["total"][:10])


def test_zero_steps_returns_empty_history():
    hist = sb.fit(
        sb.MLP(1, 1, (2,)),
        torch.rand(3, 1),
        sb.Target.from_function(quadratic),
        steps=0,
        progress=False,
    )
    assert hist["total"] == []


def test_divergence_raises_with_the_step():
    x = torch.rand(8, 1)
    with pytest.raises(ValueError, match="y contains 8 NaN or inf"):
        sb.Target.from_arrays(torch.full((8,), 1e200, dtype=torch.float64).float())
    model = sb.MLP(1, 1, (2,))
    with pytest.raises(FloatingPointError, match="at step 0"):
        sb.fit(model, x, sb.Target.from_function(lambda z: 1e30 * z[:, 0]), steps=2, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -1}, "steps must be an integer >= 0"),
        ({"lr": 0.0}, "lr must be a positive finite number"),
        ({"lr": math.nan}, "lr must be a positive finite number"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"schedule": "step"}, "schedule must be"),
        ({"loss": "mse"}, "loss must be a sobolev.SobolevLoss"),
        ({"seed": None}, "seed must be a non-negative integer, got None"),
        ({"seed": -3}, "seed must be an integer >= 0"),
        ({"seed": True}, "seed must be an integer >= 0"),
        ({"lr": True}, "lr must be a positive finite number, got True"),
        ({"steps": True}, "steps must be an integer >= 0"),
        ({"steps": 10.0}, "steps must be an integer >= 0"),
        ({"batch_size": True}, "batch_size must be an integer >= 1"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": True}, "weight_decay must be a finite number >= 0"),
        ({"optimizer": "adam"}, "optimizer must be callable"),
    ],
)
def test_bad_fit_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sb.fit(
            sb.MLP(1, 1, (2,)),
            torch.rand(3, 1),
            sb.Target.from_function(quadratic),
            progress=False,
            **kwargs,
        )


def test_fit_checks_model_target_and_sample_count():
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        sb.fit(quadratic, torch.rand(3, 1), sb.Target.from_function(quadratic))
    with pytest.raises(ValueError, match="N = 3 samples but target has 4"):
        sb.fit(sb.MLP(1, 1, (2,)), torch.rand(3, 1), sb.Target.from_arrays(np.zeros(4)))


def test_mlp_shapes_seed_and_validation():
    a, b = sb.MLP(3, 2, (5, 4), "silu", seed=1), sb.MLP(3, 2, (5, 4), "silu", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a(torch.rand(7, 3)).shape == (7, 2)
    assert sb.MLP(3, 1, ())(torch.rand(2, 3)).shape == (2, 1)
    assert "activation='silu'" in repr(a)
    with pytest.raises(ValueError, match="activation must be one of"):
        sb.MLP(2, 1, activation="swish")
    with pytest.raises(ValueError, match=r"hidden\[0\] must be an integer >= 1"):
        sb.MLP(2, 1, hidden=(0,))
    with pytest.raises(ValueError, match="in_dim must be an integer >= 1"):
        sb.MLP(0, 1)


def test_auto_weights_of_a_function_target_use_the_full_x_with_minibatches():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, generator=g, dtype=torch.float64) * 4 - 2

    def f(z):
        return torch.sin(z[:, 0]) * z[:, 1] ** 2

    target = sb.Target.from_function(f)
    loss = sb.SobolevLoss(order=1, weights="auto")
    model = sb.MLP(2, 1, (8,), "tanh", seed=0, dtype=torch.float64)
    sb.fit(model, x, target, loss=loss, steps=3, batch_size=4, progress=False)
    expected = sb.SobolevLoss(order=1, weights="auto").resolve_weights(
        sb.Target.from_function(f), x
    )
    first_batch = sb.SobolevLoss(order=1, weights="auto").resolve_weights(
        sb.Target.from_function(f), x[:4]
    )
    assert loss.resolve_weights(target, x[:4]) == expected != first_batch
