"""The paper's theoretical results as executable constructions.

* :mod:`~theory.constructions.relu_universal`: Theorem 1 in 1-D, an explicit
  one-hidden-layer ReLU network converging in W^{1,inf} and W^{1,2} at rate O(1/n).
* :mod:`~theory.constructions.finite_interpolation`: the Proposition, a ReLU network
  matching any values and gradients at finitely many points exactly.
* :mod:`~theory.constructions.coupling`: Theorem 2, a computable lower bound on
  ``max(|f - h|_inf, |g - h'|_inf)`` when ``g != f'``.
"""

from sobolev_lab.theory.constructions.coupling import (
    coupling_demo,
    coupling_lower_bound,
    minimax_fit,
)
from sobolev_lab.theory.constructions.finite_interpolation import (
    interpolating_relu_network,
    sobolev_training_loss,
)
from sobolev_lab.theory.constructions.relu_universal import (
    convergence_table,
    fitted_rate,
    relu_interpolant_1d,
)

__all__ = [
    "convergence_table",
    "coupling_demo",
    "coupling_lower_bound",
    "fitted_rate",
    "interpolating_relu_network",
    "minimax_fit",
    "relu_interpolant_1d",
    "sobolev_training_loss",
]
