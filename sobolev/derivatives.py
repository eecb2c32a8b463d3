"""Per-sample input derivatives of batched functions, by reverse-mode autodiff.

Every function here takes ``f`` mapping inputs ``x`` of shape (N, d) to outputs of
shape (N, m) or (N,) (then m = 1), and treats samples independently: the derivative
of the batch sum with respect to ``x[i]`` is sample ``i``'s own derivative as long as
``f`` does not mix samples (BatchNorm normalising with batch statistics does, and is
refused: in training mode, and in eval mode with ``track_running_stats=False``).

Inputs that are not tensors (numpy arrays, lists) and tensors of another dtype or
device are cast to the dtype and device of an ``nn.Module``'s parameters, so
``value_and_jacobian(model32, x64_numpy)`` works and returns ``model32``'s dtype.

Results keep their graph (``create_graph=True`` by default), so they can be used inside
a loss and differentiated again with respect to the parameters of ``f``.

Custom forward-mode rule: a model ``f`` may define a method ``f.value_and_jvp(x, v)``
returning ``(f(x), J(x) v)``, both (N, m) and differentiable with respect to its
parameters. :func:`value_and_jvp` and ``SobolevLoss(order=1, projections=k,
side="input")`` then call it instead of differentiating ``f``. It pays off when the
model's own tangent pass is cheaper than two reverse passes, e.g. a convolution whose
input gradient is slow: the tangent of a convolution is a convolution. The rule is
trusted; compare it once with ``value_and_jvp(f, x, v, custom=False)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sobolev._validation import check_directions, check_inputs

Function = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["hessian", "hvp", "uhv", "value_and_jacobian", "value_and_jvp", "value_and_vjp"]


def _check_no_batch_statistics(f: Any, name: str = "f") -> None:
    """Refuse BatchNorm modules that normalise with batch statistics.

    Such a module mixes samples, so the derivative of the batch sum with respect to one
    sample is not that sample's own derivative. Batch statistics are used in training
    mode and, with ``track_running_stats=False``, in eval mode too.
    """
    if not isinstance(f, nn.Module):
        return
    for mod_name, module in f.named_modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        label = repr(mod_name or type(module).__name__)
        if module.training:
            raise ValueError(
                f"{name} contains BatchNorm module {label} in training mode: it normalises "
                "with batch statistics, so its outputs mix samples and per-sample input "
                f"derivatives would be wrong. Call {name}.eval() (or use a per-sample "
                "normalisation such as LayerNorm)."
            )
        if not module.track_running_stats or module.running_mean is None:
            raise ValueError(
                f"{name} contains BatchNorm module {label} with track_running_stats=False: "
                "it normalises with batch statistics even in eval mode, so its outputs mix "
                "samples and per-sample input derivatives would be wrong. Use running "
                "statistics (track_running_stats=True) or a per-sample normalisation such "
                "as LayerNorm."
            )


def _model_dtype_device(f: Any) -> tuple[torch.dtype, torch.device] | None:
    """Dtype and device of a module's first floating parameter or buffer, else None."""
    if not isinstance(f, nn.Module):
        return None
    for t in (*f.parameters(), *f.buffers()):
        if torch.is_floating_point(t):
            return t.dtype, t.device
    return None


def _as_model_input(f: Any, x: Any, name: str = "x") -> torch.Tensor:
    """Validated (N, d) inputs, cast to the dtype and device of ``f``'s parameters.

    Casting keeps an upstream graph (``Tensor.to`` is differentiable), and the model
    computes in its own dtype anyway, so nothing is lost that the model would use.
    """
    x = check_inputs(x, name)
    spec = _model_dtype_device(f)
    if spec is not None and (x.dtype, x.device) != spec:
        x = x.to(dtype=spec[0], device=spec[1])
    return x


def _prepare(f: Function, x: torch.Tensor) -> torch.Tensor:
    _check_no_batch_statistics(f)
    x = _as_model_input(f, x)
    # Keep an upstream graph when x already requires grad; otherwise make x a leaf.
    return x if x.requires_grad else x.detach().requires_grad_(True)


def _evaluate(f: Function, x: torch.Tensor) -> torch.Tensor:
    y = f(x)
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"f must return a torch.Tensor, got {type(y).__name__}")
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"f must map x of shape (N, d) = {tuple(x.shape)} to shape (N, m) or (N,), "
            f"got shape {tuple(y.shape)}"
        )
    return y


def _grad(out: torch.Tensor, x: torch.Tensor, grad_outputs: torch.Tensor) -> torch.Tensor:
    if not out.requires_grad:  # out does not depend on x (e.g. a constant function)
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(
        out, x, grad_outputs=grad_outputs, create_graph=True, allow_unused=True
    )
    return torch.zeros_like(x) if g is None else g


def _basis(y: torch.Tensor, k: int) -> torch.Tensor:
    e = torch.zeros_like(y)
    e[:, k] = 1.0
    return e


# The private helpers below take an already evaluated y = f(x) so that a loss can
# share one forward pass between the value term and every derivative term.
def _jacobian(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, m, d) from y (N, m)."""
    return torch.stack([_grad(y, x, _basis(y, k)) for k in range(y.shape[1])], dim=1)


def _jvp(y: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N, m): J v by the double-VJP trick (u -> J^T u is linear in u)."""
    u = torch.zeros_like(y, requires_grad=True)
    g = _grad(y, x, u)
    if not g.requires_grad:
        return torch.zeros_like(y)
    (Jv,) = torch.autograd.grad(g, u, grad_outputs=v, create_graph=True)
    return Jv


def _vjp(y: torch.Tensor, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(N, d): u^T J."""
    return _grad(y, x, u)


def _hessian(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, m, d, d) from y (N, m)."""
    return _hessian_from_jacobian(_jacobian(y, x), x)


def _hessian_from_jacobian(J: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, m, d, d), differentiating each Jacobian row (N, d) once more."""
    rows = range(x.shape[1])
    return torch.stack(
        [
            torch.stack([_grad(J[:, k], x, _basis(x, a)) for a in rows], 1)
            for k in range(J.shape[1])
        ],
        dim=1,
    )


def _hvp(y: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N, m, d): H_k v for each output, reverse-over-reverse."""
    return torch.stack([_grad(_grad(y, x, _basis(y, k)), x, v) for k in range(y.shape[1])], 1)


def _uhv(y: torch.Tensor, x: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N, d): sum_k u_k H_k v, the Hessian of <u, y> times v."""
    return _grad(_grad(y, x, u), x, v)


def _custom_jvp(f: Function):
    """``f.value_and_jvp`` if ``f`` defines one, else None."""
    rule = getattr(f, "value_and_jvp", None)
    return rule if callable(rule) else None


def _apply_custom_jvp(rule, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Call a model's own ``value_and_jvp(x, v)`` and check it returned (N, m) twice."""
    out = rule(x, v)
    if not (isinstance(out, tuple) and len(out) == 2 and all(torch.is_tensor(t) for t in out)):
        raise ValueError(
            "f.value_and_jvp(x, v) must return a tuple (y, Jv) of two tensors, "
            f"got {type(out).__name__}"
        )
    y, Jv = (t.unsqueeze(1) if t.ndim == 1 else t for t in out)
    if y.ndim != 2 or y.shape[0] != x.shape[0] or Jv.shape != y.shape:
        raise ValueError(
            f"f.value_and_jvp(x, v) with x of shape {tuple(x.shape)} must return y and Jv "
            f"of the same shape (N, m) with N = {x.shape[0]}, got {tuple(y.shape)} and "
            f"{tuple(Jv.shape)}"
        )
    return y, Jv


def _finish(create_graph: bool, *ts: torch.Tensor):
    out = ts if create_graph else tuple(t.detach() for t in ts)
    return out if len(out) > 1 else out[0]


def value_and_jacobian(
    f: Function, x: torch.Tensor, *, create_graph: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and per-sample Jacobians of ``f`` at ``x``.

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,).
    x : Tensor, shape (N, d)
    create_graph : bool
        Keep the graph so the Jacobian can be differentiated again.

    Returns
    -------
    y : Tensor, shape (N, m)
    J : Tensor, shape (N, m, d)
        ``J[i, k, j] = d y[i, k] / d x[i, j]``.
    """
    with torch.enable_grad():
        x = _prepare(f, x)
        y = _evaluate(f, x)
        return _finish(create_graph, y, _jacobian(y, x))


def value_and_jvp(
    f: Function,
    x: torch.Tensor,
    v: torch.Tensor,
    *,
    create_graph: bool = True,
    custom: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and per-sample Jacobian-vector products ``J(x_i) v_i`` (input side).

    Uses the double-VJP trick: ``u -> J^T u`` is linear in ``u``, so differentiating
    ``<J^T u, v>`` with respect to ``u`` gives ``J v`` with two reverse passes, which
    measured faster than generic forward mode for small MLPs on CPU. A model that
    defines its own ``value_and_jvp(x, v)`` method is called instead (see the module
    docstring).

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,).
    x : Tensor, shape (N, d)
    v : Tensor, shape (N, d)
        One input-space direction per sample.
    create_graph : bool
        Keep the graph for further differentiation.
    custom : bool
        Use ``f.value_and_jvp`` when ``f`` defines it; False forces autodiff (to check
        a custom rule against it).

    Returns
    -------
    y : Tensor, shape (N, m)
    Jv : Tensor, shape (N, m)
    """
    rule = _custom_jvp(f) if custom else None
    with torch.enable_grad():
        if rule is not None:
            _check_no_batch_statistics(f)
            x = _as_model_input(f, x)
            v = check_directions(v, x, x.shape[1])
            return _finish(create_graph, *_apply_custom_jvp(rule, x, v))
        x = _prepare(f, x)
        v = check_directions(v, x, x.shape[1])
        y = _evaluate(f, x)
        return _finish(create_graph, y, _jvp(y, x, v))


def value_and_vjp(
    f: Function, x: torch.Tensor, u: torch.Tensor, *, create_graph: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and per-sample vector-Jacobian products ``u_i^T J(x_i)`` (output side).

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,).
    x : Tensor, shape (N, d)
    u : Tensor, shape (N, m)
        One output-space direction per sample.
    create_graph : bool
        Keep the graph for further differentiation.

    Returns
    -------
    y : Tensor, shape (N, m)
    uJ : Tensor, shape (N, d)
    """
    with torch.enable_grad():
        x = _prepare(f, x)
        y = _evaluate(f, x)
        u = check_directions(u, x, y.shape[1], name="u")
        return _finish(create_graph, y, _vjp(y, x, u))


def hessian(f: Function, x: torch.Tensor, *, create_graph: bool = True) -> torch.Tensor:
    """Per-sample Hessians of every output of ``f`` at ``x``.

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,); needs a twice-differentiable activation
        (piecewise-linear networks have zero Hessians almost everywhere).
    x : Tensor, shape (N, d)
    create_graph : bool
        Keep the graph for further differentiation.

    Returns
    -------
    H : Tensor, shape (N, m, d, d)
        ``H[i, k, a, b] = d^2 y[i, k] / d x[i, a] d x[i, b]``.
    """
    with torch.enable_grad():
        x = _prepare(f, x)
        return _finish(create_graph, _hessian(_evaluate(f, x), x))


def hvp(
    f: Function, x: torch.Tensor, v: torch.Tensor, *, create_graph: bool = True
) -> torch.Tensor:
    """Per-sample Hessian-vector products ``H_k(x_i) v_i`` for every output ``k``.

    Reverse-over-reverse: differentiate ``<grad y_k, v>`` once more, which avoids
    forming the (d, d) Hessian.

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,).
    x : Tensor, shape (N, d)
    v : Tensor, shape (N, d)
    create_graph : bool
        Keep the graph for further differentiation.

    Returns
    -------
    Hv : Tensor, shape (N, m, d)
    """
    with torch.enable_grad():
        x = _prepare(f, x)
        v = check_directions(v, x, x.shape[1])
        return _finish(create_graph, _hvp(_evaluate(f, x), x, v))


def uhv(
    f: Function, x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, *, create_graph: bool = True
) -> torch.Tensor:
    """Per-sample ``sum_k u_k H_k(x_i) v_i`` (output- and input-side projection).

    Parameters
    ----------
    f : nn.Module or callable
        Maps (N, d) to (N, m) or (N,).
    x : Tensor, shape (N, d)
    u : Tensor, shape (N, m)
    v : Tensor, shape (N, d)
    create_graph : bool
        Keep the graph for further differentiation.

    Returns
    -------
    Tensor, shape (N, d)
    """
    with torch.enable_grad():
        x = _prepare(f, x)
        v = check_directions(v, x, x.shape[1])
        y = _evaluate(f, x)
        u = check_directions(u, x, y.shape[1], name="u")
        return _finish(create_graph, _uhv(y, x, u, v))
