"""Approximation studies: universal approximation in Sobolev norms, sample complexity, theorems.

Three studies under the Study contract (:mod:`sobolev_lab.study`), run by
``sobolev run <study> --preset quick|full|large`` and rebuilt from their stored cells
by ``sobolev report <study>``; results go to ``results/<study>/<preset>/``:

``universal`` (:mod:`sobolev_lab.approx.universal`)
    Error vs width in L^2, W^{1,2} and W^{1,inf} (measured on the whole domain with
    :mod:`sobolev_lab.theory.norms`) for relu, leaky_relu, softplus and tanh networks
    trained by regular, Sobolev (unit weights) and balanced Sobolev training; power-law
    rates per curve; the explicit 1-D ReLU interpolant of
    :mod:`sobolev_lab.theory.constructions.relu_universal` as the reference curve.
``samples`` (:mod:`sobolev_lab.approx.sample_complexity`)
    Error vs number of training points for orders 0, 1 and 2 in d = 1, 2, 4, 8 with
    nested training sets; power-law fits with confidence intervals
    (:mod:`sobolev_lab.curves`), samples needed to reach target errors and their
    ratios next to the counting heuristic ``C(d + k, k)`` and the exact polynomial
    counting of :mod:`sobolev_lab.theory.sample_complexity`.
``theorems`` (:mod:`sobolev_lab.approx.theorems`)
    The explicit constructions behind Theorem 1, the Proposition and Theorem 2.

:mod:`sobolev_lab.approx.common` holds the targets' scaling and error norms,
:mod:`sobolev_lab.approx.report` the pieces the summaries and tables share.
"""
