"""Sobolev Training: fit neural networks to target values and input derivatives.

Public API::

    y, J  = value_and_jacobian(f, x)     # (N, m), (N, m, d)
    y, Jv = value_and_jvp(f, x, v)       # (N, m), (N, m)
    y, uJ = value_and_vjp(f, x, u)       # (N, m), (N, d)
    H     = hessian(f, x)                # (N, m, d, d)
    Hv    = hvp(f, x, v)                 # (N, m, d)
    target = Target.from_arrays(y, dy=None, d2y=None) | Target.from_function(g)
    loss_fn = SobolevLoss(order=1, weights=None, projections=None)
    model = MLP(in_dim, out_dim, hidden=(256, 256), activation="relu")
    history = fit(model, x, target, loss=loss_fn, steps=..., lr=...,
                  validation=(x_val, target_val), patience=...)   # optional early stopping
    ens = MLPEnsemble.from_seeds(in_dim, out_dim, hidden, activation, seeds)  # E members
    history = fit_ensemble(ens, x, y, dy, weights=(w0, w1), steps=...)  # x (E, N, d)
    std = Standardizer.fit(x, y)         # chain-rule standardisation of x, y, dy, d2y
    u, v, dv, d2v = std.transform(x, y, dy, d2y)
    g = estimate_gradients(X, y)         # (N, d) from values only (nearest neighbours)
    SobolevRegressor(...)                # scikit-learn estimator (sobolev.sklearn)
"""

from sobolev._version import __version__
from sobolev.derivatives import hessian, hvp, uhv, value_and_jacobian, value_and_jvp, value_and_vjp
from sobolev.ensemble import MLPEnsemble, fit_ensemble
from sobolev.estimate import estimate_gradients
from sobolev.fit import fit
from sobolev.loss import SobolevLoss
from sobolev.models import MLP
from sobolev.standardize import Standardizer
from sobolev.target import Target

__all__ = [
    "MLP",
    "MLPEnsemble",
    "SobolevLoss",
    "SobolevRegressor",
    "Standardizer",
    "Target",
    "__version__",
    "estimate_gradients",
    "fit",
    "fit_ensemble",
    "hessian",
    "hvp",
    "uhv",
    "value_and_jacobian",
    "value_and_jvp",
    "value_and_vjp",
]


def __getattr__(name: str):
    # scikit-learn is imported only when the estimator is asked for.
    if name == "SobolevRegressor":
        from sobolev.sklearn import SobolevRegressor

        return SobolevRegressor
    raise AttributeError(f"module 'sobolev' has no attribute {name!r}")
