"""The fair-comparison protocol every study uses (issue #14).

- **Selection on held-out data only** (:mod:`.selection`): k-fold cross-validation
  inside the ``n`` training points (:func:`kfold`) when labels are few, a validation
  split (:func:`validation_split`) when they are plentiful. :func:`select` takes a
  scorer ``score(config, train_idx, val_idx)`` over the training set only; the
  chosen hyperparameters go into the cell (:meth:`Selection.record`).
- **Equal budgets** (:class:`Budget`, :func:`grid`): every method gets the same
  number of trial configurations.
- **Batched trials** (:mod:`.batched`): one method's (configs x folds x seeds) as
  member stacks for :func:`sobolev.ensemble.fit_ensemble`, read back with
  :func:`stack_scores` and chosen per seed with :func:`select_scores`.
- **Convergence** (:mod:`.convergence`) and **diagnostics** (:mod:`.diagnostics`):
  the ``convergence`` entry of a result; dead ReLU units and final loss per term.
- **Verdicts**: :func:`sobolev_lab.stats.paired_verdicts`.

Example: one method of one regression cell, training sets ``x`` (S, n, d), ``y``
(S, n), ``dy`` (S, n, d) for ``seeds``::

    configs = Budget(4).check({"sobolev": grid(lr=[1e-3, 1e-2],
                                               derivative_weight=[1.0, "auto"])})["sobolev"]
    splits = [kfold(n, 5, seed=s) for s in seeds]
    stacks = member_stacks(x, y, dy, configs, splits, seeds)
    errors, flags = [], []
    for st in stacks:
        ens = MLPEnsemble.from_seeds(d, 1, hidden, activation, st.seeds)
        hist = fit_ensemble(ens, st.x, st.y, st.dy, weights=st.weights, steps=steps,
                            validation=(st.x_val, st.y_val), eval_every=20, patience=5,
                            progress=False, **st.shared)
        errors.append(hist["best_val"])
        flags += converged_members(hist, budget=steps)
    scores = stack_scores(stacks, errors, len(configs), seeds)   # (S, C, K)
    chosen = [select_scores(configs, scores[s]) for s in range(len(seeds))]
    final = refit_stacks(x, y, dy, configs, [c.index for c in chosen], seeds)
    # ... train ``final`` (no held-out data left), evaluate on test points, store
    # ``chosen[s].record()`` in the cell and ``convergence_record(flags)`` in the summary.
"""

from sobolev_lab.protocol.batched import (
    Member,
    MemberStack,
    heldout_mse,
    member_stacks,
    member_weights,
    refit_stacks,
    stack_scores,
)
from sobolev_lab.protocol.convergence import (
    CRITERION,
    converged,
    converged_members,
    convergence_record,
)
from sobolev_lab.protocol.diagnostics import dead_unit_fraction, final_train_losses
from sobolev_lab.protocol.selection import (
    Budget,
    Selection,
    grid,
    kfold,
    select,
    select_scores,
    validation_split,
)

__all__ = [
    "CRITERION",
    "Budget",
    "Member",
    "MemberStack",
    "Selection",
    "converged",
    "converged_members",
    "convergence_record",
    "dead_unit_fraction",
    "final_train_losses",
    "grid",
    "heldout_mse",
    "kfold",
    "member_stacks",
    "member_weights",
    "refit_stacks",
    "select",
    "select_scores",
    "stack_scores",
    "validation_split",
]
