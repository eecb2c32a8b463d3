"""Independent ground truth for Sobolev Training (never imports :mod:`sobolev`).

* :mod:`sobolev_lab.theory.functions`: classical optimisation test functions defined once in
  sympy, with exact vectorised values, gradients and Hessians (numpy and torch).
* :mod:`sobolev_lab.theory.norms`: Sobolev norms, seminorms and distances ``W^{k,p}`` on boxes.
* :mod:`sobolev_lab.theory.constructions`: Theorem 1, the finite-set interpolation Proposition and
  Theorem 2 of Czarnecki et al. (2017) as executable constructions.
* :mod:`sobolev_lab.theory.sample_complexity`: points needed to identify a polynomial from values
  versus values and gradients.
* ``sobolev theory`` (:mod:`sobolev_lab.theory.cli`) prints a report that recomputes all of it.
"""
