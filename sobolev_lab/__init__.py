"""The lab: studies, ground truth and figures built on the library ``sobolev``.

The repository keeps them in the top-level folders ``theory/``, ``approx/``,
``experiments/`` and ``paper_figs/``; they install as ``sobolev_lab.theory``,
``sobolev_lab.approx``, ``sobolev_lab.experiments`` and ``sobolev_lab.paper_figs``
(``pip install "sobolev-training[lab]"``). This package holds what every study
shares: the Study contract (:mod:`~sobolev_lab.study`), configs
(:mod:`~sobolev_lab.config`), the runner (:mod:`~sobolev_lab.runner`), sweeps,
result files, statistics and tables. The library never imports from here.
"""
