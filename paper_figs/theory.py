"""Figure 7: the theorems as constructions.

(a) Theorem 1: the one-hidden-layer ReLU interpolant of f = sin 3x + x^2/2 and its
derivative next to f and f'; (b) its W^{1,inf} and W^{1,2} distances against the
number of knots with the O(1/n) slope; (c) the Proposition: a ReLU network through
random values with random slopes at six points (tangent segments); (d) Theorem 2: the
best max(|f - h|, |g - h'|) over polynomials h of growing degree, with g = f' (falls
to 0) and g != f' (stays above the computed lower bound).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("theorems/full/result.json",),
    "quick": ("theorems/quick/result.json",),
}


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``theory.png``/``.pdf`` from the theorems study's ``result.json``."""
    pay = _io.payload(paths[0])
    t1, ip, t2 = pay["theorem1"], pay["interpolation"], pay["theorem2"]
    c_true, c_net = _style.OKABE_ITO[7], _style.OKABE_ITO[1]
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.6))

    ax = axes[0, 0]
    ax.plot(t1["x"], t1["f"], color=c_true, label="f")
    ax.plot(t1["x"], t1["h"], color=c_net, label=f"ReLU interpolant h ({t1['curve_knots']} knots)")
    ax.plot(t1["x"], t1["df"], color=c_true, linestyle=":", label="f'")
    ax.plot(t1["x"], t1["dh"], color=c_net, linestyle=":", label="h'")
    ax.set_title("(a) Theorem 1: explicit one-hidden-layer ReLU network")
    ax.set_xlabel("x")
    ax.legend(frameon=False, fontsize=7)

    ax = axes[0, 1]
    n = np.array([r["n_knots"] for r in t1["table"]], dtype=float)
    for k, (key, name, marker) in enumerate(
        (("w1inf", "$W^{1,\\infty}$", "o"), ("w12", "$W^{1,2}$", "s"))
    ):
        rate = t1[f"rate_{key}"]
        ax.plot(
            n,
            [r[key] for r in t1["table"]],
            marker=marker,
            color=_style.OKABE_ITO[k],
            label=f"{name} distance, slope {rate:.2f}",
        )
    ref = [r["w1inf"] for r in t1["table"]]
    ax.plot(n, ref[0] * n[0] / n, "--", color="0.5", label="O(1/n)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("knots n")
    ax.set_ylabel("distance to f")
    ax.set_title("(b) Theorem 1: convergence in Sobolev norms")
    ax.legend(frameon=False, fontsize=7)

    ax = axes[1, 0]
    ax.plot(ip["x"], ip["h"], color=c_net, label="constructed ReLU network h")
    # The network equals the tangent on |x - x_i| <= delta / 4 (delta: closest pair).
    half = np.diff(np.sort(ip["points"])).min() / 4
    for p, v, s in zip(ip["points"], ip["values"], ip["slopes"], strict=True):
        dx = np.array([-half, half])
        ax.plot(p + dx, v + s * dx, color=c_true, linewidth=2.2)
    ax.scatter(
        ip["points"], ip["values"], color=c_true, zorder=3, s=14, label="targets: values and slopes"
    )
    losses = ", ".join(f"d={r['dim']}: {r['loss']:.0e}" for r in ip["losses"])
    ax.set_title("(c) Proposition: exact interpolation of values and slopes")
    ax.set_xlabel("x")
    ax.text(
        0.02,
        0.02,
        f"Sobolev loss of the construction ({losses})",
        fontsize=6,
        transform=ax.transAxes,
    )
    ax.legend(frameon=False, fontsize=7)

    ax = axes[1, 1]
    for key, name, color in (
        ("consistent", "g = f'", _style.OKABE_ITO[2]),
        ("inconsistent", "g ≠ f' on an interval", _style.OKABE_ITO[0]),
    ):
        rows = t2[key]
        ax.plot(
            [r["degree"] for r in rows],
            [r["max_error"] for r in rows],
            "o-",
            color=color,
            label=name,
        )
    ax.axhline(
        t2["bound"], color="0.4", linestyle="--", label=f"lower bound {t2['bound']:.3f} (g ≠ f')"
    )
    ax.set_yscale("log")
    ax.set_xlabel("polynomial degree of h")
    ax.set_ylabel("min over h of max(|f - h|, |g - h'|)")
    ax.set_title("(d) Theorem 2: values and derivatives are coupled")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return _style.save(fig, out, "theory")
