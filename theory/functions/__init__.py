"""Classical optimisation test functions with exact derivatives (ground truth).

>>> from theory.functions import get
>>> f = get("styblinski_tang", dim=3)
>>> x = f.sample(100, seed=0)          # (100, 3) float64, uniform in f.domain
>>> f.value(x).shape, f.grad(x).shape, f.hessian(x).shape
((100,), (100, 3), (100, 3, 3))

Torch: ``f.torch_value(xt)``, ``f.torch_grad(xt)``, ``f.torch_hessian(xt)`` take a
tensor (N, d) and return differentiable tensors of the same dtype.

Non-differentiable points (Ackley at the origin; Bukin N.6 on the ridge
``x2 = x1^2/100`` and on ``x1 = -10``): each non-smooth summand contributes 0 to the
gradient and Hessian there (minimum-norm subgradient for Lipschitz kinks; the Dirac
part of Hessians is dropped). Nothing ever returns NaN. Use
``f.distance_to_kink(x)`` or ``f.sample(n, margin=...)`` to stay away from them.
"""

from sobolev_lab.theory.functions.catalog import PAPER_FUNCTIONS, Minimum
from sobolev_lab.theory.functions.function import BenchmarkFunction
from sobolev_lab.theory.functions.registry import generic_names, get, names, sample

__all__ = [
    "PAPER_FUNCTIONS",
    "BenchmarkFunction",
    "Minimum",
    "generic_names",
    "get",
    "names",
    "sample",
]
