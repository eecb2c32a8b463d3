"""One regression cell under the fair-comparison protocol (issue #14).

A cell is a (function, training-set size). For every seed, every method chooses its
hyperparameters by k-fold cross-validation inside the ``n`` training points, with the
same number of candidate configurations per method, the value MSE on the held-out
fold as the score, and early stopping (patience, best weights restored) in every
network trial; the chosen configuration is then refitted on all ``n`` points for the
median best step of its folds and evaluated on the test points. The test set is drawn
after the selection and enters nothing but the metrics.

Network methods (:func:`sobolev.ensemble.fit_ensemble`; the configs x folds x seeds of
one method are member stacks of one ensemble per learning rate and activation,
:func:`sobolev_lab.protocol.member_stacks`):

- ``regular``: values only; candidates activation x ``lrs`` x ``regular_weight_decays``
  (L2 decay per member, since Sobolev terms act partly as a regulariser).
- ``sobolev``: values and exact gradients; candidates activation x ``lrs`` x
  ``derivative_weights`` (``"auto"`` is :class:`sobolev.SobolevLoss`'s balance).
- ``sobolev_estimated``: as ``sobolev`` on gradients estimated from the values of each
  fold's training points only (:func:`sobolev.estimate.estimate_gradients`).

Peers (:mod:`sobolev_lab.peers`, in the same standardised units): ``GENN`` chooses
among as many candidates of :data:`sobolev_lab.peers.GENN_GRID` by the same folds;
``GEKPLS`` and ``KRG`` fit their hyperparameters by their own likelihood.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from sobolev_lab.experiments.regression.study import _backward, _metrics, prepare

__all__ = ["candidates", "cell_data", "converged_by_activation", "refit_seed", "run_cell"]

NETWORKS = ("regular", "sobolev", "sobolev_estimated")
#: Config keys that split a method's trainings into ensemble stacks (trainer arguments
#: and architecture cannot differ inside one ensemble).
STACK_KEYS = ("activation", "lr")


def candidates(cell: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every method's candidate configurations (equal counts, checked by ``Budget``)."""
    from sobolev_lab.peers import GENN_GRID
    from sobolev_lab.protocol import Budget, grid

    acts = list(cell["activations"])
    sob = grid(activation=acts, lr=list(cell["lrs"]), derivative_weight=list(cell["weights"]))
    out: dict[str, list[dict[str, Any]]] = {}
    for m in cell["methods"]:
        regular = grid(
            activation=acts, lr=list(cell["lrs"]), weight_decay=list(cell["regular_weight_decays"])
        )
        out[m] = regular if m == "regular" else sob
    budget = Budget(len(sob))
    if "GENN" in cell["peers"]:
        out["GENN"] = budget.subsample(grid(**GENN_GRID), seed=0)
    return budget.check(out)


def converged_by_activation(cell: dict[str, Any], method: str, flags: list) -> dict[str, list]:
    """A network method's CV convergence flags (``converged``) split by activation.

    ``_network`` trains one stack per (activation, lr), in the order the candidates first
    use them, with members ordered config, fold, seed
    (:func:`sobolev_lab.protocol.member_stacks`), and appends each stack's flags in turn.
    """
    per_config = cell["folds"] * len(cell["seeds"])
    sizes: dict[tuple, int] = {}
    for c in candidates({**cell, "peers": ()})[method]:
        key = tuple(c[k] for k in STACK_KEYS)
        sizes[key] = sizes.get(key, 0) + per_config
    if sum(sizes.values()) != len(flags):
        raise ValueError(
            f"{method} has {len(flags)} convergence flags, but its candidates make "
            f"{sum(sizes.values())} cross-validation trainings"
        )
    out: dict[str, list] = {}
    start = 0
    for key, size in sizes.items():
        activation = key[STACK_KEYS.index("activation")]
        out.setdefault(activation, []).extend(flags[start : start + size])
        start += size
    return out


def _fit_stack(st, cell, dim: int, dtype, steps: int, validation: bool):
    from sobolev.ensemble import MLPEnsemble, fit_ensemble

    ens = MLPEnsemble.from_seeds(
        dim, 1, cell["hidden"], st.shared["activation"], st.seeds, dtype=dtype
    )
    as_t = lambda a: None if a is None else torch.as_tensor(a, dtype=dtype)  # noqa: E731
    kw = {}
    if validation:
        kw = {
            "validation": (as_t(st.x_val), as_t(st.y_val)),
            "eval_every": cell["eval_every"],
            "patience": cell["patience"],
        }
    hist = fit_ensemble(
        ens, as_t(st.x), as_t(st.y), as_t(st.dy), weights=st.weights, steps=steps,
        lr=st.shared["lr"], schedule=cell["schedule"], seed=0, progress=False,
        weight_decay=st.weight_decay, **kw,
    )  # fmt: skip
    return ens, hist


def _network(method, configs, cell, data, dim, dtype) -> dict[str, Any]:
    """CV selection, refit and test metrics of one network method, every seed."""
    from sobolev_lab.protocol import (
        converged_members,
        final_train_losses,
        kfold,
        member_stacks,
        select_scores,
        stack_scores,
    )
    from sobolev_lab.protocol.diagnostics import DEAD_UNIT_ACTIVATIONS, dead_unit_fraction

    seeds, u, v, dv = data["seeds"], data["u"], data["v"], data["dv"]
    dy: Any = None
    if method == "sobolev":
        dy = dv
    elif method == "sobolev_estimated":
        from sobolev.estimate import estimate_gradients

        # Estimated from the fold's own training values: held-out points stay unseen.
        def dy(s, idx):
            return estimate_gradients(u[s, idx], v[s, idx], cell["n_neighbors"])

    splits = [kfold(u.shape[1], cell["folds"], seed=s) for s in seeds]
    stacks = member_stacks(u, v, dy, configs, splits, seeds, shared_keys=STACK_KEYS, dtype=dtype)
    t0 = time.perf_counter()
    errors, best_steps, flags = [], [], []
    for st in stacks:
        _, hist = _fit_stack(st, cell, dim, dtype, cell["steps"], validation=True)
        errors.append(hist["best_val"])
        best_steps.append(hist["best_step"])
        flags += converged_members(hist, budget=cell["steps"])
    cv_seconds = time.perf_counter() - t0
    scores = stack_scores(stacks, errors, len(configs), seeds)
    steps_at = stack_scores(stacks, best_steps, len(configs), seeds)
    chosen = [select_scores(configs, scores[s]) for s in range(len(seeds))]
    # The refit trains each seed for the median best step of its chosen config's folds.
    refit_steps = [
        max(cell["eval_every"], int(np.median(steps_at[s, c.index]))) for s, c in enumerate(chosen)
    ]
    rows: list[dict[str, Any]] = [{} for _ in seeds]
    pred_v = np.zeros(data["yt"].shape)
    pred_g = np.zeros(data["gt"].shape)
    t0 = time.perf_counter()
    for s in range(len(seeds)):
        st, ens, hist, pred_v[s], pred_g[s] = refit_seed(
            cell, data, dy, configs, chosen[s].index, s, refit_steps[s]
        )
        losses = final_train_losses(hist)
        rows[s]["train_loss_order0"] = losses["order0"][0]
        rows[s]["train_loss_order1"] = losses["order1"][0]
        act = st.shared["activation"]
        rows[s]["dead_unit_fraction"] = (
            float(dead_unit_fraction(ens, st.x)[0]) if act in DEAD_UNIT_ACTIVATIONS else None
        )
    refit_seconds = time.perf_counter() - t0
    res = _metrics(pred_v, pred_g, data["yt"], data["gt"], data["away"])
    for key in rows[0]:
        res[key] = [r[key] for r in rows]
    res["selection"] = [c.record() for c in chosen]
    res["refit_steps"] = refit_steps
    res["converged"] = [bool(f) for f in flags]
    # Wall time of the batched ensembles, shared out per seed.
    res["fit_seconds"] = [(cv_seconds + refit_seconds) / len(seeds)] * len(seeds)
    res["seconds_cv"], res["seconds_refit"] = cv_seconds, refit_seconds
    res["cv_members"] = sum(len(st.members) for st in stacks)
    return res


def refit_seed(cell, data, dy, configs, index: int, s: int, steps: int):
    """Train seed index ``s``'s config ``configs[index]`` on all its n points for ``steps``.

    ``dy`` is as in :func:`sobolev_lab.protocol.member_stacks` (None: values only).
    Returns the stack, the ensemble, its history and the test predictions of values
    (n_test,) and gradients (n_test, d) in original units.
    """
    from sobolev_lab.protocol import refit_stacks

    dtype = getattr(torch, cell["dtype"])
    u, v = data["u"][s : s + 1], data["v"][s : s + 1]
    (st,) = refit_stacks(
        u, v, None if dy is None else _one(dy, s), configs, [index], [data["seeds"][s]],
        shared_keys=STACK_KEYS, dtype=dtype,
    )  # fmt: skip
    ens, hist = _fit_stack(st, cell, u.shape[2], dtype, steps, validation=False)
    yp, jp = ens.predict(torch.as_tensor(data["ut"][s : s + 1], dtype=dtype))
    pv, pg = _backward(data["scs"][s : s + 1], yp[..., 0].double().numpy(),
                       jp[:, :, 0].double().numpy())  # fmt: skip
    return st, ens, hist, pv[0], pg[0]


def _one(dy, s):
    """Derivative targets of seed index ``s`` alone, for a one-seed refit stack."""
    if callable(dy):
        return lambda _, idx: dy(s, idx)
    return dy[s : s + 1]


def _peer(name, configs, cell, data) -> dict[str, Any]:
    """One peer on every seed: GENN chosen by the folds, kriging by its likelihood."""
    from sobolev_lab import peers
    from sobolev_lab.protocol import kfold, select

    seeds, u, v, dv = data["seeds"], data["u"], data["v"], data["dv"]
    pv, pg = np.zeros(data["yt"].shape), np.zeros(data["gt"].shape)
    extra: dict[str, list] = {"fit_seconds": []}
    for s, seed in enumerate(seeds):
        t0 = time.perf_counter()
        if name == "GENN":

            def make(c, seed=seed):
                return peers.GENN(seed=seed, num_iterations=cell["genn_iterations"], **c)

            splits = kfold(u.shape[1], cell["folds"], seed=seed)
            sel = select(configs, peers.cv_scorer(make, u[s], v[s], dv[s]), splits)
            extra.setdefault("selection", []).append(sel.record())
            model = make(sel.chosen)
        elif name == "GEKPLS":
            model = peers.GEKPLS(n_comp=min(2, u.shape[2]))
        else:
            model = peers.KRG()
        try:
            model.fit(u[s], v[s], dv[s])
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            if name == "GENN":
                raise
            # SMT's PLS step can hit a NaN (seen: GEKPLS, Ackley n = 100); the peer is
            # recorded as failed in this cell rather than losing the cell's other methods.
            return {"failed": f"seed {seed}: {type(exc).__name__}: {exc}"}
        extra["fit_seconds"].append(time.perf_counter() - t0)
        ut = data["ut"][s]
        a, b = _backward(data["scs"][s : s + 1], model.predict(ut)[None],
                         model.predict_gradients(ut)[None])  # fmt: skip
        pv[s], pg[s] = a[0], b[0]
    res = _metrics(pv, pg, data["yt"], data["gt"], data["away"])
    res.update(extra)
    return res


def cell_data(f, cell: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """Every seed's standardised data of ``cell`` (:func:`prepare`) as the methods read it.

    Returns ``data`` (``seeds``, ``u``, ``v``, ``dv``, ``ut``, ``scs``, ``yt``, ``gt``,
    ``away``) and the kink margin (None for smooth functions).
    """
    stack, scs, u, v, dv, ut, away, margin = prepare(f, cell)
    data = {
        "seeds": list(cell["seeds"]), "u": u, "v": v, "dv": dv, "ut": ut, "scs": scs,
        "yt": stack["yt"], "gt": stack["gt"], "away": away,
    }  # fmt: skip
    return data, margin


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Select, refit and evaluate every method and peer of one protocol cell.

    Returns
    -------
    dict
        ``methods``: per method and peer, per-seed test metrics (a kriging peer whose
        fit raised on some seed holds only ``failed``, the error), ``fit_seconds``,
        ``selection`` (the chosen hyperparameters and CV scores, per seed) and, for
        networks, ``converged`` (one flag per CV training), final training loss per term
        and dead-unit fraction of the refitted networks; ``kink`` for non-smooth
        functions.
    """
    from sobolev_lab.theory.functions import get

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # identical numbers whatever the caller's thread count
    try:
        f = get(cell["function"], cell["dim"])
        dtype = getattr(torch, cell["dtype"])
        data, margin = cell_data(f, cell)
        out: dict[str, Any] = {"methods": {}}
        if data["away"] is not None:
            out["kink"] = {
                "margin": margin,
                "fraction_excluded_from_away_metrics": float(1 - data["away"].mean()),
            }
        configs = candidates(cell)
        for m in cell["methods"]:
            out["methods"][m] = _network(m, configs[m], cell, data, f.dim, dtype)
        for p in cell["peers"]:
            out["methods"][p] = _peer(p, configs.get(p), cell, data)
        return out
    finally:
        torch.set_num_threads(threads)
