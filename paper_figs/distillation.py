"""Figure 5: policy distillation on MinAtar: closeness to the teacher vs training data.

Per game (columns): KL(teacher || student) and action-prediction error on held-out
states, and the student's mean return when it plays (teacher's return dashed), against
the fraction of recorded states used for training; mean ± s.e. over seeds. One colour
per method; results with two student architectures draw the conv student solid and the
MLP student dashed. Reads both the current result layout (rows with ``student``) and
the earlier one (``full-v1/``: no ``student``, methods ``regular`` and ``sobolev``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from sobolev_lab.paper_figs import _io, _style

REQUIRES = {
    "full": ("distillation/full/result.json",),
    "quick": ("distillation/quick/result.json",),
}
PANELS = (
    ("test_kl", "KL(teacher || student)", True),
    ("test_action_error", "action-prediction error", True),
    ("mean_return", "mean episode return", False),
)
LINESTYLES = {"conv": "-", "mlp": "--"}


def draw(paths: list[Path], out: Path) -> list[Path]:
    """Draw ``distillation.png``/``.pdf`` from the distillation study's result file."""
    rows = _io.payload(paths[0])["rows"]
    games = list(dict.fromkeys(r["game"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    students = list(dict.fromkeys(r.get("student") for r in rows))
    fig, axes = plt.subplots(
        len(PANELS), len(games), figsize=(3.3 * len(games), 7.2), squeeze=False, sharex=True
    )
    for col, game in enumerate(games):
        for row, (key, name, log) in enumerate(PANELS):
            ax = axes[row, col]
            for k, method in enumerate(methods):
                for student in students:
                    cells = sorted(
                        (
                            r
                            for r in rows
                            if r["game"] == game
                            and r["method"] == method
                            and r.get("student") == student
                        ),
                        key=lambda r: r["fraction"],
                    )
                    if not cells:
                        continue
                    label = _style.label(method)
                    if student is not None and len(students) > 1:
                        label = f"{label} ({student})"
                    ax.errorbar(
                        [100 * r["fraction"] for r in cells],
                        [r[key] for r in cells],
                        yerr=[r.get(f"{key}_sem") or 0.0 for r in cells],
                        marker="o",
                        markersize=3.5,
                        capsize=2,
                        color=_style.color(method, k),
                        linestyle=LINESTYLES.get(student, "-"),
                        label=label,
                    )
            if key == "mean_return":
                teacher = next(r["teacher_return"] for r in rows if r["game"] == game)
                ax.axhline(teacher, color="0.3", linestyle=":", linewidth=1, label="teacher")
            ax.set_xscale("log")
            if log:
                ax.set_yscale("log")
            if col == 0:
                ax.set_ylabel(name)
            if row == 0:
                ax.set_title(game.replace("_", " "))
        axes[-1, col].set_xlabel("states used for training [%]")
    handles, labels = axes[-1, 0].get_legend_handles_labels()
    fig.suptitle("Policy distillation on MinAtar (held-out states; mean ± s.e. over seeds)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
    return _style.save(fig, out, "distillation")
