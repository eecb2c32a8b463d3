"""Approximation studies: universal approximation in Sobolev norms and sample complexity.

Two resumable sweeps (:func:`sobolev_lab.sweep.run_sweep`, backends loky / sequential /
dask), each a command of the ``sobolev`` console script:

``sobolev approx universal --preset {tiny,quick,full,large}``
    :mod:`sobolev_lab.approx.universal`: error vs width in L^2, W^{1,2} and W^{1,inf} (measured
    on the whole domain with :mod:`sobolev_lab.theory.norms`) for relu, leaky_relu, softplus and
    tanh networks trained by regular, Sobolev (unit weights) and balanced Sobolev
    training; power-law rates per curve; the explicit 1-D ReLU interpolant of
    :mod:`sobolev_lab.theory.constructions.relu_universal` as the reference curve.
``sobolev approx samples --preset {tiny,quick,full,large}``
    :mod:`sobolev_lab.approx.sample_complexity`: error vs number of training points for orders
    0, 1 and 2 in d = 1, 2, 4, 8 with nested training sets; power-law fits with
    confidence intervals (:mod:`sobolev_lab.approx.fitting`), samples needed to reach target
    errors and their ratios next to the counting heuristic ``C(d + k, k)`` and the
    exact polynomial counting of :mod:`sobolev_lab.theory.sample_complexity`.

Common options: ``--out DIR`` (default ``results/approx``), ``--backend``,
``--jobs N``, ``--scheduler ADDRESS`` (dask), ``--no-progress``. Each run writes
``DIR/<study>_<preset>.json`` (:func:`sobolev_lab.results.write_result`; the payload
schema is in each study module's docstring), ``DIR/<study>_<preset>.csv`` and the
cell files ``DIR/<study>_<preset>/cells/*.json``; re-running skips finished cells.
Python: :func:`sobolev_lab.approx.driver.run_study`.
"""
