r"""One training run (a *cell*) of a method on a network split into stages.

Methods (same network, data order, optimiser and seed):

* ``backprop``: end-to-end backpropagation (upper reference).
* ``noprop``: only the top stage learns; lower stages keep their initial weights.
* ``sg``, ``critic``, ``sobolev``: update-decoupled training. Every stage receives a
  detached input and updates as soon as its own output has a gradient: the top stage
  from the loss, every lower stage from the synthetic gradient of the module at its
  output. Modules predict ``dL/dh`` directly (``sg``) or as ``dc/dh`` of a scalar
  critic ``c(h, y)`` (``critic``, ``sobolev``).

Gradient scaling (the same for all methods). With per-sample losses
:math:`\ell_i` and the batch loss :math:`L = \frac1N \sum_i \ell_i`, modules predict
the *per-sample* gradient :math:`\delta_i = \partial \ell_i / \partial h_i`, the gradient
of the batch *sum* of losses, and the lower stage is updated with
:math:`\hat g_i / N`, exactly what backprop of :math:`L` would give if the prediction
were right.

Module targets (DNI bootstrapping). The module at the highest cut regresses onto the
true per-sample gradient coming from the top stage (and, for the Sobolev critic, onto
the per-sample loss :math:`\ell_i`). A lower module regresses onto the synthetic
gradient of the module above it, backpropagated through the stage in between (and
onto that critic's value): the gradient "arriving from above". Targets are detached.

* ``sg``: :math:`\mathrm{mean}_i |\hat g_i - \delta_i|^2`.
* ``critic``: :class:`sobolev.SobolevLoss` with weights (0, 1): gradient only,
  :math:`\mathrm{mean}_i |\nabla_h c_i - \delta_i|^2`.
* ``sobolev``: :class:`sobolev.SobolevLoss` with weights ``sobolev_weights`` (default
  (1, 1)): :math:`\mathrm{mean}_i [w_0 (c_i - \ell_i)^2 + w_1 |\nabla_h c_i - \delta_i|^2]`.

Monitoring. At every evaluation point the *true* gradient at each cut (full backprop
through all layers above, on a fixed batch of training samples) is compared with the
module's prediction (mean per-sample cosine similarity). It is never used for updates.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import sobolev as sb
from sobolev._training import minibatches
from sobolev_lab.experiments.synthetic_gradients.config import MODULE_METHODS, validate_cell
from sobolev_lab.experiments.synthetic_gradients.data import load_dataset
from sobolev_lab.experiments.synthetic_gradients.models import cnn_stages, mlp_stages, stage_shapes
from sobolev_lab.experiments.synthetic_gradients.modules import (
    Critic,
    SyntheticGradient,
    critic_of_flat_h,
    critic_value_and_gradient,
)

__all__ = ["Trainer", "run_cell"]


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


class Trainer:
    """Holds the network stages, the modules and their optimisers for one cell.

    Parameters
    ----------
    config : dict
        A cell config (validated with :func:`validate_cell`).
    input_shape : tuple of int
    n_classes : int
    """

    def __init__(self, config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
        cfg = self.cfg = validate_cell(config)
        self.device = torch.device(cfg["device"])
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError('device="cuda" was asked for but torch.cuda.is_available() is False')
        self.method, self.n_classes = cfg["method"], n_classes
        seed = cfg["seed"]
        if len(input_shape) == 1:
            stages = mlp_stages(input_shape[0], n_classes, cfg["modules"], cfg["hidden"], seed=seed)
        else:
            stages = cnn_stages(
                input_shape[0],
                n_classes,
                cfg["modules"],
                cfg["channels"],
                image_size=input_shape[-1],
                seed=seed,
            )
        self.stages = stages.to(self.device)
        self.modules = nn.ModuleList()
        if self.method in MODULE_METHODS:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 10_000)
                for shape in stage_shapes(self.stages, input_shape):
                    self.modules.append(self._module(shape))
            self.modules.to(self.device)
        if cfg["optimizer"] == "sgd":
            self.opt_net = torch.optim.SGD(self.stages.parameters(), lr=cfg["lr"], momentum=0.9)
        else:
            self.opt_net = torch.optim.Adam(self.stages.parameters(), lr=cfg["lr"])
        self.opt_mod = (
            torch.optim.Adam(self.modules.parameters(), lr=cfg["module_lr"])
            if len(self.modules)
            else None
        )
        w = cfg["sobolev_weights"]
        weights = (0.0, 1.0) if self.method == "critic" else w if w == "auto" else tuple(w)
        self.critic_loss = sb.SobolevLoss(order=1, weights=weights)

    def _module(self, shape: tuple[int, ...]) -> nn.Module:
        cfg = self.cfg
        kw = {
            "conditioned": cfg["conditioned"],
            "width": cfg["module_width"],
            "layers": cfg["module_layers"],
        }
        if self.method == "sg":
            return SyntheticGradient(shape, self.n_classes, activation=cfg["sg_activation"], **kw)
        return Critic(shape, self.n_classes, activation=cfg["critic_activation"], **kw)

    def _autocast(self):
        if not self.cfg["amp"]:
            return contextlib.nullcontext()
        # bfloat16 keeps float32's range, so no loss scaling is needed with separate
        # per-stage backward passes; modules and losses stay in float32.
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.n_classes).float()

    # -- one update --------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[float]]:
        """One update on a batch; returns the batch loss and each module's training loss."""
        self.opt_net.zero_grad(set_to_none=True)
        if self.opt_mod is not None:
            self.opt_mod.zero_grad(set_to_none=True)
        if self.method == "backprop":
            with self._autocast():
                logits = x
                for stage in self.stages:
                    logits = stage(logits)
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            self.opt_net.step()
            return float(loss.detach()), []
        if self.method == "noprop":
            with torch.no_grad(), self._autocast():
                h = x
                for stage in self.stages[:-1]:
                    h = stage(h)
            with self._autocast():
                logits = self.stages[-1](h.detach())
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            self.opt_net.step()
            return float(loss.detach()), []
        return self._decoupled_step(x, y)

    def _decoupled_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[float]]:
        n = x.shape[0]
        inputs, outputs = [], []
        h = x
        with self._autocast():
            for k, stage in enumerate(self.stages):
                inp = h.detach().requires_grad_(k > 0)
                h = stage(inp)
                inputs.append(inp)
                outputs.append(h)
        ell = F.cross_entropy(outputs[-1].float(), y, reduction="none")
        loss = ell.mean()
        if not bool(torch.isfinite(loss)):
            return float("nan"), []
        loss.backward()
        # Targets for the highest module: the per-sample loss and its gradient.
        value_t = ell.detach()
        mdtype = next(self.modules.parameters()).dtype  # modules run outside autocast
        grad_t = inputs[-1].grad.to(mdtype) * n
        y1h = self._onehot(y)
        module_losses = [0.0] * len(self.modules)
        for k in reversed(range(len(self.modules))):
            module, hk = self.modules[k], outputs[k].detach().to(mdtype)
            if self.method == "sg":
                with torch.no_grad():
                    g_hat = module(hk, y1h)
                c_hat = None
            else:
                c_hat, g_hat = critic_value_and_gradient(module, hk, y1h)
            # The stage below the cut learns from the prediction made before the module
            # sees this batch's target (update decoupling).
            outputs[k].backward((g_hat / n).to(outputs[k].dtype))
            module_losses[k] = self._train_module(module, hk, y1h, value_t, grad_t)
            if k > 0:  # bootstrapped targets for the module below
                grad_t = inputs[k].grad.to(mdtype) * n
                value_t = c_hat
        self.opt_net.step()
        self.opt_mod.step()
        return float(loss.detach()), module_losses

    def _train_module(self, module, hk, y1h, value_t, grad_t) -> float:
        if not bool(torch.isfinite(grad_t).all()):
            return float("nan")
        if self.method == "sg":
            err = ((module(hk, y1h) - grad_t) ** 2).flatten(1).sum(1).mean()
            err.backward()
            return float(err.detach())
        if value_t is None or not bool(torch.isfinite(value_t).all()):
            return float("nan")
        target = sb.Target.from_arrays(value_t, grad_t.flatten(1))
        err = self.critic_loss(critic_of_flat_h(module, y1h), hk.flatten(1), target)
        err.backward()
        return float(err.detach())

    # -- evaluation --------------------------------------------------------------------
    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
        """Classification accuracy on (x, y), evaluated in batches."""
        correct = 0
        for i in range(0, len(y), batch):
            h = x[i : i + batch]
            with self._autocast():
                for stage in self.stages:
                    h = stage(h)
            correct += int((h.argmax(1) == y[i : i + batch]).sum())
        return correct / len(y)

    def gradient_quality(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        """Per module: mean cosine between predicted and true per-sample dL/dh, and for
        critics the mean squared error of the predicted loss (None for ``sg``)."""
        if not len(self.modules):
            return [], []
        with torch.enable_grad():
            h, cuts = x, []
            for stage in self.stages:
                h = stage(h)
                cuts.append(h)
            ell = F.cross_entropy(h, y, reduction="none")
            true = torch.autograd.grad(ell.sum(), cuts[:-1])
        y1h = self._onehot(y)
        cos, value_err = [], []
        for module, hk, g in zip(self.modules, cuts, true, strict=False):
            hk = hk.detach()
            if self.method == "sg":
                with torch.no_grad():
                    g_hat = module(hk, y1h)
                value_err.append(None)
            else:
                c_hat, g_hat = critic_value_and_gradient(module, hk, y1h)
                value_err.append(_finite_or_none(float(((c_hat - ell.detach()) ** 2).mean())))
            c = F.cosine_similarity(g_hat.flatten(1), g.flatten(1), dim=1, eps=1e-12).mean()
            cos.append(_finite_or_none(float(c)))
        return cos, value_err


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Train one cell and return its JSON-serialisable result.

    Returns
    -------
    dict
        ``status`` ("ok" or "diverged"), ``final_test_acc`` (None if diverged),
        ``curves`` with lists over evaluation points (``step``, ``test_acc``,
        ``train_loss``, ``cosine`` and ``value_mse`` as one list per point holding one
        entry per module, ``module_loss``), ``seconds`` and ``seconds_per_step``.
        Non-finite numbers are stored as None.
    """
    cfg = validate_cell(config)
    data = load_dataset(cfg["dataset"], cfg["data_dir"])
    if cfg["eval_split"] == "validation":
        data = data.validation_split()
    trainer = Trainer(cfg, data.input_shape, data.n_classes)
    dev = trainer.device
    x_tr, y_tr = torch.from_numpy(data.x_train).to(dev), torch.from_numpy(data.y_train).to(dev)
    x_te, y_te = torch.from_numpy(data.x_test).to(dev), torch.from_numpy(data.y_test).to(dev)
    # A fixed monitoring batch (independent of the seed) for gradient-prediction quality.
    mon = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(12345))
    mon = mon[: cfg["monitor_size"]].to(dev)
    x_mon, y_mon = x_tr[mon], y_tr[mon]
    # A fresh permutation per epoch, the last partial batch dropped; None (a batch at
    # least the training-set size) means the whole training set in its stored order.
    n_train = len(y_tr)
    batches = minibatches(
        n_train, min(cfg["batch_size"], n_train), torch.Generator().manual_seed(cfg["seed"])
    )
    curves: dict[str, list] = {k: [] for k in ("step", "test_acc", "train_loss", "cosine")}
    curves.update(value_mse=[], module_loss=[])
    status, diverged_step = "ok", None
    run_loss, run_mod, count = 0.0, np.zeros(len(trainer.modules)), 0
    t0 = time.perf_counter()
    step = 0
    for step in range(1, cfg["steps"] + 1):
        idx = next(batches)
        if idx is None:
            loss, mod = trainer.step(x_tr, y_tr)
        else:
            idx = idx.to(dev)
            loss, mod = trainer.step(x_tr[idx], y_tr[idx])
        if not math.isfinite(loss) or not all(math.isfinite(m) for m in mod):
            status, diverged_step = "diverged", step
            break
        run_loss, run_mod, count = run_loss + loss, run_mod + np.asarray(mod), count + 1
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            cos, verr = trainer.gradient_quality(x_mon, y_mon)
            curves["step"].append(step)
            curves["test_acc"].append(trainer.accuracy(x_te, y_te))
            curves["train_loss"].append(run_loss / count)
            curves["cosine"].append(cos)
            curves["value_mse"].append(verr)
            curves["module_loss"].append([_finite_or_none(float(m)) for m in run_mod / count])
            run_loss, run_mod, count = 0.0, np.zeros(len(trainer.modules)), 0
    seconds = time.perf_counter() - t0
    return {
        "dataset": cfg["dataset"],
        "method": cfg["method"],
        "modules": cfg["modules"],
        "seed": cfg["seed"],
        "status": status,
        "diverged_step": diverged_step,
        "final_test_acc": curves["test_acc"][-1] if status == "ok" else None,
        "final_cosine": curves["cosine"][-1] if status == "ok" else None,
        "curves": curves,
        "seconds": seconds,
        "seconds_per_step": seconds / max(step, 1),
        "eval_split": cfg["eval_split"],
    }
