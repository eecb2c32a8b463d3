"""The text report behind ``sobolev theory``: every section recomputes its numbers."""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from sobolev_lab.theory import constructions, functions, sample_complexity
from sobolev_lab.theory.norms import sobolev_norm


class _Checks:
    """Collects pass/fail marks for the report's exit status."""

    def __init__(self):
        self.ok = True

    def mark(self, passed: bool) -> str:
        self.ok &= bool(passed)
        return "ok" if passed else "FAIL"


def _registry_section(checks: _Checks, seed: int, n_points: int) -> list[str]:
    lines = ["== Test functions (theory.functions) =="]
    lines.append(f"{'name':18s} {'dim':>5s} {'smooth':>6s}  {'domain':34s} minimum")
    for name in functions.names():
        f = functions.get(name)
        dims = "any" if name in functions.generic_names() else str(f.dim)
        domain = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in f.domain.pairs)
        m = f.minimum
        where = np.array2string(m.locations[0], precision=4, separator=", ")
        more = f" (+{len(m.locations) - 1} more)" if len(m.locations) > 1 else ""
        lines.append(
            f"{name:18s} {dims:>5s} {f.smooth!s:>6s}  {domain:34s} {m.value:.10g} at {where}{more}"
        )
    lines.append("")
    lines.append(
        f"Cross-check at {n_points} random points per paper function (margin 1e-2 from kinks):"
    )
    try:
        import argmin_testfunctions_py as argmin
    except ImportError:
        argmin = None
        lines.append("  argmin-testfunctions-py not installed: oracle comparison skipped")
    for name in functions.PAPER_FUNCTIONS:
        f = functions.get(name)
        x = f.sample(n_points, seed=seed, margin=1e-2)
        xt = torch.tensor(x, requires_grad=True)
        (auto,) = torch.autograd.grad(f.torch_value(xt).sum(), xt)
        torch_err = _rel(auto.numpy(), f.grad(x))
        text = f"  {name:16s} torch autograd vs grad {torch_err:.1e}"
        if argmin is not None:
            errs = [
                _rel(f.value(x), [getattr(argmin, name)(p) for p in x]),
                _rel(f.grad(x), [getattr(argmin, name + "_derivative")(p) for p in x]),
                _rel(f.hessian(x), [getattr(argmin, name + "_hessian")(p) for p in x]),
            ]
            text += "; vs argmin value/grad/hessian " + " ".join(f"{e:.1e}" for e in errs)
            torch_err = max(torch_err, *errs)
        lines.append(f"{text}  {checks.mark(torch_err < 1e-10)}")
    return lines


def _rel(actual, expected) -> float:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected)) / max(1.0, np.max(np.abs(expected))))


def _norms_section(checks: _Checks) -> list[str]:
    x, y = sp.symbols("x y", real=True)
    pi = np.pi
    cases = [
        ("|sin|_{W^{1,2}(0,pi)}", sp.sin(x), [(0, pi)], 1, 2, "exact", np.sqrt(pi)),
        ("|sin|_{W^{1,2}(0,pi)}", sp.sin(x), [(0, pi)], 1, 2, "gauss", np.sqrt(pi)),
        ("|sin|_{W^{2,2}(0,pi)}", sp.sin(x), [(0, pi)], 2, 2, "gauss", np.sqrt(1.5 * pi)),
        ("|sin|_{W^{1,inf}(0,pi)}", sp.sin(x), [(0, pi)], 1, np.inf, "grid", 1.0),
        ("|xy|_{W^{1,2}([0,1]^2)}", x * y, [(0, 1), (0, 1)], 1, 2, "exact", np.sqrt(7 / 9)),
        ("|xy|_{W^{2,2}([0,1]^2)}", x * y, [(0, 1), (0, 1)], 2, 2, "gauss", 4 / 3),
        ("|xy|_{W^{2,1}([0,1]^2)}", x * y, [(0, 1), (0, 1)], 2, 1, "gauss", 2.25),
    ]
    lines = ["== Sobolev norms (theory.norms) vs closed forms =="]
    for label, expr, dom, k, p, method, exact in cases:
        got = sobolev_norm(expr, dom, k=k, p=p, method=method)
        err = abs(got - exact) / exact
        lines.append(
            f"  {label:26s} {method:6s} {got:.15f}  exact {exact:.15f}  rel {err:.1e} "
            f"{checks.mark(err < 1e-10)}"
        )
    f = functions.get("styblinski_tang", 5)
    exact = sobolev_norm(f.expr, f.domain, k=1, p=2, method="exact")
    res = sobolev_norm(f, k=1, p=2, method="qmc", full_output=True)
    dev = abs(res.value - exact) / res.error
    lines.append(
        f"  styblinski_tang d=5 W^{{1,2}}: qmc {res.value:.2f} +- {res.error:.2f} "
        f"(n={res.n_points}), exact {exact:.2f}, {dev:.1f} std errors "
        f"{checks.mark(dev < 5)}"
    )
    return lines


def _theorem1_section(checks: _Checks, quick: bool) -> list[str]:
    def f(t):
        return torch.sin(3 * t[:, 0]) + t[:, 0] ** 2 / 2

    knots = [8, 16, 32] if quick else [8, 16, 32, 64, 128]
    rows = constructions.convergence_table(f, 0.0, 2.0, knots, n_quad=2048 if quick else 8192)
    lines = [
        "== Theorem 1: one-hidden-layer ReLU interpolant of f = sin(3x) + x^2/2 on [0, 2] ==",
        f"  {'knots':>6s} {'W^{1,inf} dist':>16s} {'W^{1,2} dist':>14s}",
    ]
    lines += [f"  {r['n_knots']:6d} {r['w1inf']:16.6e} {r['w12']:14.6e}" for r in rows]
    rate_inf = constructions.fitted_rate(knots, [r["w1inf"] for r in rows])
    rate_2 = constructions.fitted_rate(knots, [r["w12"] for r in rows])
    passed = abs(rate_inf + 1) < 0.1 and abs(rate_2 + 1) < 0.1
    lines.append(
        f"  fitted rates: W^{{1,inf}} n^{rate_inf:.3f}, W^{{1,2}} n^{rate_2:.3f} "
        f"(theory: n^-1) {checks.mark(passed)}"
    )
    return lines


def _interpolation_section(checks: _Checks, seed: int) -> list[str]:
    lines = ["== Proposition: exact ReLU interpolation of values and gradients (25 points) =="]
    rng = np.random.default_rng(seed)
    for d in (1, 2, 5, 10):
        x = rng.normal(size=(25, d))
        f, g = 5 * rng.normal(size=25), 3 * rng.normal(size=(25, d))
        net = constructions.interpolating_relu_network(x, f, g)
        loss = constructions.sobolev_training_loss(net, x, f, g)
        widths = [m.out_features for m in net if isinstance(m, torch.nn.Linear)][:-1]
        lines.append(
            f"  d={d:2d}: hidden widths {widths}, Sobolev training loss {loss:.1e} "
            f"{checks.mark(loss < 1e-20)}"
        )
    return lines


def _theorem2_section(checks: _Checks) -> list[str]:
    demo = constructions.coupling_demo()
    s, t = demo["interval"]
    lines = [
        "== Theorem 2: f = sin(2 pi x), g = f' + 4 hat on [0.25, 0.75] ==",
        f"  lower bound max(|f-h|_inf, |g-h'|_inf) >= {demo['bound']:.6f} "
        f"(from [{s:.4f}, {t:.4f}])",
        f"  {'degree':>6s} {'best for g != f-prime':>22s} {'best for g = f-prime':>21s}",
    ]
    passed = True
    for bad, good in zip(demo["inconsistent"], demo["consistent"], strict=True):
        passed &= bad["max_error"] >= demo["bound"] * (1 - 1e-6)
        lines.append(f"  {bad['degree']:6d} {bad['max_error']:22.6e} {good['max_error']:21.3e}")
    passed &= demo["consistent"][-1]["max_error"] < 1e-6
    lines.append(
        f"  fits with g != f' stay above the bound; with g = f' they -> 0 {checks.mark(passed)}"
    )
    return lines


def _counting_section(checks: _Checks, max_dim: int, max_degree: int, seed: int) -> list[str]:
    rows = sample_complexity.sample_complexity_table(
        range(1, max_dim + 1), range(1, max_degree + 1), seed=seed
    )
    lines = [
        "== Sample complexity: generic points to identify a degree-q polynomial in d variables ==",
        "  cells: values-only / values+gradients (counting ceil(D/(d+1)); * = "
        "Alexander-Hirschowitz exception)",
        "  d\\q " + "".join(f"{q:>15d}" for q in range(1, max_degree + 1)),
    ]
    passed = True
    for d in range(1, max_dim + 1):
        cells = []
        for r in (r for r in rows if r["d"] == d):
            star = "*" if r["exceptional"] else " "
            cells.append(
                f"{r['points_values']:>5d}/{r['points_values_gradients']:<4d}"
                f"({r['counting_values_gradients']}){star}".rjust(15)
            )
            passed &= r["points_values"] == r["counting_values"]
            passed &= r["points_values_gradients"] == r["predicted_values_gradients"]
        lines.append(f"  {d:3d} " + "".join(cells))
    lines.append(f"  measured ranks match the counting formula + exceptions {checks.mark(passed)}")
    return lines


def build_report(
    max_dim: int = 6, max_degree: int = 6, seed: int = 0, quick: bool = False
) -> tuple[str, bool]:
    """Return the report text and whether every check passed."""
    checks = _Checks()
    sections = [
        _registry_section(checks, seed, 50 if quick else 200),
        _norms_section(checks),
        _theorem1_section(checks, quick),
        _interpolation_section(checks, seed),
        _theorem2_section(checks),
        _counting_section(checks, max_dim, max_degree, seed),
    ]
    return "\n\n".join("\n".join(s) for s in sections), checks.ok
