r"""One training run (a *cell*): one method, one trial configuration, one seed.

Methods (same network, data order, optimiser and seed):

* ``backprop``: end-to-end backpropagation (upper reference).
* ``noprop``: only the top stage learns; lower stages keep their initial weights.
* ``dni``, ``value_critic``, ``gradient_critic``, ``sobolev_critic``: update-decoupled
  training. Every stage receives a detached input and updates as soon as its own
  output has a gradient: the top stage from the loss, every lower stage from the
  synthetic gradient of the module at its output. Modules predict ``dL/dh`` directly
  (``dni``) or as ``dc/dh`` of a scalar critic ``c(h, y)`` (the critics).

Gradient scaling (the same for all methods). With per-sample losses
:math:`\ell_i` and the batch loss :math:`L = \frac1N \sum_i \ell_i`, modules predict
the *per-sample* gradient :math:`\delta_i = \partial \ell_i / \partial h_i` and the
lower stage is updated with :math:`\hat g_i / N`, exactly what backprop of :math:`L`
would give if the prediction were right.

Module targets (DNI bootstrapping). The module at the highest cut regresses onto the
true per-sample loss :math:`\ell_i` and gradient :math:`\delta_i` from the top stage. A
lower module regresses onto the critic value of the module above and its synthetic
gradient backpropagated through the stage in between. Targets are detached.

* ``dni``: :math:`\mathrm{mean}_i |\hat g_i - \delta_i|^2`.
* critics: :math:`\mathrm{mean}_i [w_v (c_i - \ell_i)^2 + w_g |\nabla_h c_i - \delta_i|^2]`
  (:func:`.modules.critic_loss`) with ``value_critic`` (1, 0), the paper's Critic;
  ``gradient_critic`` (0, 1); ``sobolev_critic`` (W, 1) for a ``raw:W`` trial, or
  (W / s_v, 1 / s_g) for ``norm:W``, where the fixed scales are measured once in a
  warm-up on the monitoring batch at the initial weights: :math:`s_v = \mathrm{mean}_i
  \ell_i^2` and :math:`s_g = \mathrm{mean}_i |\delta_i|^2` at that cut, the errors of
  the zero-initialised critic, so both terms start near W and 1.

Selection and early stopping. Every run trains on the training split minus a fixed
validation split (1/6) and is evaluated on both every ``eval_every`` steps; the
reported test accuracy is the one at the best validation accuracy (early stopping
with the best state restored, without stopping early). The test split never
chooses anything.

Diagnostics (on a fixed monitoring batch of training samples, never used for updates):
per module the mean cosine and the R² of the synthetic gradient against the true
per-sample gradient (full backprop), the share of the synthetic gradient common to all
samples :math:`|\bar g|^2 / \overline{|g|^2}` (1: every sample gets the same
gradient, the collapse signature), the critic's value MSE; per cut the fraction of
dead units (zero on every monitoring sample).

Host synchronisation. The inner step reads nothing back to the host: losses are
accumulated on the device, and their finiteness is checked at the evaluation points.
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

from sobolev._training import minibatches
from sobolev_lab.experiments.synthetic_gradients.config import (
    MODULE_METHODS,
    parse_task,
    validate_cell,
)
from sobolev_lab.experiments.synthetic_gradients.data import load_dataset
from sobolev_lab.experiments.synthetic_gradients.models import (
    cnn1d_stages,
    cnn_stages,
    mlp_stages,
    stage_shapes,
)
from sobolev_lab.experiments.synthetic_gradients.modules import (
    Critic,
    SyntheticGradient,
    critic_loss,
    critic_value_and_gradient,
)
from sobolev_lab.protocol.convergence import converged

__all__ = ["Trainer", "judge_convergence", "run_cell"]


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _stages(cfg: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> nn.ModuleList:
    _, arch, modules = parse_task(cfg["task"])
    seed = cfg["seed"]
    if arch == "mlp":
        d = math.prod(input_shape)
        return mlp_stages(d, n_classes, modules, cfg["hidden"], seed=seed)
    if len(input_shape) == 2:
        c, length = input_shape
        return cnn1d_stages(c, n_classes, modules, cfg["channels"], length, seed=seed)
    return cnn_stages(
        input_shape[0], n_classes, modules, cfg["channels"], image_size=input_shape[-1], seed=seed
    )


class Trainer:
    """Holds the network stages, the modules and their optimisers for one cell.

    Parameters
    ----------
    config : dict
        A cell config (validated with :func:`validate_cell`).
    input_shape : tuple of int
        Per-sample input shape: (d,), (C, L) or (C, H, W).
    n_classes : int
    """

    def __init__(self, config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
        cfg = self.cfg = validate_cell(config)
        self.device = torch.device(cfg["device"])
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={cfg['device']!r} was asked for but torch.cuda.is_available() is False"
            )
        self.method, self.n_classes = cfg["method"], n_classes
        self.stages = _stages(cfg, tuple(input_shape), n_classes).to(self.device)
        self.input_shape = tuple(input_shape)
        self.modules = nn.ModuleList()
        if self.method in MODULE_METHODS:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg["seed"] + 10_000)
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
        w = {"value_critic": (1.0, 0.0), "gradient_critic": (0.0, 1.0)}.get(self.method)
        if self.method == "sobolev_critic":
            w = (float(cfg["w_value"]), 1.0)
        self.weights = [w] * len(self.modules)
        self.scales: dict[str, Any] | None = None

    def _module(self, shape: tuple[int, ...]) -> nn.Module:
        cfg = self.cfg
        kw = {
            "conditioned": cfg["conditioned"],
            "width": cfg["module_width"],
            "layers": cfg["module_layers"],
        }
        if self.method == "dni":
            return SyntheticGradient(shape, self.n_classes, activation=cfg["sg_activation"], **kw)
        return Critic(shape, self.n_classes, activation=cfg["critic_activation"], **kw)

    def _autocast(self):
        if not self.cfg["amp"]:
            return contextlib.nullcontext()
        # bfloat16 keeps float32's range, so no loss scaling is needed with separate
        # per-stage backward passes; modules and losses stay in float32.
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        # F.one_hot checks the label range on the host (a device sync on CUDA).
        out = torch.zeros(len(y), self.n_classes, device=y.device)
        return out.scatter_(1, y[:, None], 1.0)

    def _true_gradients(self, x, y) -> tuple[list[torch.Tensor], torch.Tensor, list]:
        """Activations at the cuts, per-sample losses and true per-sample dl_i/dh at each cut."""
        with torch.enable_grad():
            h, cuts = x, []
            for stage in self.stages:
                h = stage(h)
                cuts.append(h)
            ell = F.cross_entropy(h.float(), y, reduction="none")
            true = torch.autograd.grad(ell.sum(), cuts[:-1])
        return [c.detach() for c in cuts[:-1]], ell.detach(), list(true)

    def warm_up(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """Fix the normalising scales of a ``norm:W`` Sobolev critic at the initial weights.

        Returns
        -------
        dict
            ``value`` (s_v) and ``gradient`` (s_g per module).
        """
        _, ell, true = self._true_gradients(x, y)
        s_v = float((ell**2).mean())
        s_g = [float((g**2).flatten(1).sum(1).mean()) for g in true]
        if not (s_v > 0 and all(s > 0 for s in s_g) and math.isfinite(s_v + sum(s_g))):
            raise ValueError(f"warm-up scales must be finite and > 0, got {s_v}, {s_g}")
        w0 = float(self.cfg["w_value"])
        self.weights = [(w0 / s_v, 1.0 / s) for s in s_g]
        self.scales = {"value": s_v, "gradient": s_g}
        return self.scales

    # -- one update --------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update on a batch, without host synchronisation.

        Returns
        -------
        loss : Tensor, scalar
            The batch loss (detached, on the device).
        terms : Tensor, shape (modules, 2)
            Each module's value and gradient error terms (detached; zeros for the value
            term of DNI; shape (0, 2) without modules).
        """
        self.opt_net.zero_grad(set_to_none=True)
        if self.opt_mod is not None:
            self.opt_mod.zero_grad(set_to_none=True)
        if self.method in ("backprop", "noprop"):
            with self._autocast():
                h = x
                for stage in self.stages[:-1]:
                    h = stage(h)
                if self.method == "noprop":
                    h = h.detach()
                logits = self.stages[-1](h)
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            self.opt_net.step()
            return loss.detach(), torch.zeros(0, 2, device=x.device)
        return self._decoupled_step(x, y)

    def _decoupled_step(self, x: torch.Tensor, y: torch.Tensor):
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
        loss.backward()
        # Targets for the highest module: the per-sample loss and its gradient.
        value_t = ell.detach()
        mdtype = next(self.modules.parameters()).dtype  # modules run outside autocast
        grad_t = inputs[-1].grad.to(mdtype) * n
        y1h = self._onehot(y)
        terms = []
        for k in reversed(range(len(self.modules))):
            module, hk = self.modules[k], outputs[k].detach().to(mdtype)
            if self.method == "dni":
                g = module(hk, y1h)
                err = ((g - grad_t) ** 2).flatten(1).sum(1).mean()
                c_hat, g_hat, t = None, g.detach(), (torch.zeros_like(err), err.detach())
            else:
                w_v, w_g = self.weights[k]
                c, g = critic_value_and_gradient(
                    module, hk, y1h, differentiable=True, create_graph=w_g > 0
                )
                err, *t = critic_loss(c, g, value_t, grad_t, w_v, w_g)
                c_hat, g_hat = c.detach(), g.detach()
            # The stage below the cut learns from the prediction made before the module
            # sees this batch's target (update decoupling).
            outputs[k].backward((g_hat / n).to(outputs[k].dtype))
            err.backward()
            terms.append(torch.stack(list(t)))
            if k > 0:  # bootstrapped targets for the module below
                grad_t = inputs[k].grad.to(mdtype) * n
                value_t = c_hat
        self.opt_net.step()
        self.opt_mod.step()
        return loss.detach(), torch.stack(terms[::-1])

    # -- evaluation --------------------------------------------------------------------
    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
        """Classification accuracy on (x, y), evaluated in batches."""
        correct = torch.zeros((), dtype=torch.long, device=y.device)
        for i in range(0, len(y), batch):
            h = x[i : i + batch]
            with self._autocast():
                for stage in self.stages:
                    h = stage(h)
            correct += (h.argmax(1) == y[i : i + batch]).sum()
        return int(correct) / len(y)

    def diagnostics(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list]:
        """Gradient-prediction quality per module and dead units per cut on (x, y).

        Returns
        -------
        dict
            ``cosine``, ``r2``, ``common`` and ``value_mse`` (one entry per module; None
            where undefined) and ``dead`` (one entry per cut).
        """
        cuts, ell, true = self._true_gradients(x, y)
        out: dict[str, list] = {
            "dead": [float((c.flatten(1) <= 0).all(0).float().mean()) for c in cuts]
        }
        out.update(cosine=[], r2=[], common=[], value_mse=[])
        y1h = self._onehot(y)
        for module, hk, g in zip(self.modules, cuts, true, strict=False):
            hk, g = hk.float(), g.float()
            if self.method == "dni":
                with torch.no_grad():
                    g_hat = module(hk, y1h)
                out["value_mse"].append(None)
            else:
                c_hat, g_hat = critic_value_and_gradient(module, hk, y1h)
                out["value_mse"].append(_finite_or_none(float(((c_hat - ell) ** 2).mean())))
            gh, gt = g_hat.flatten(1), g.flatten(1)
            cos = F.cosine_similarity(gh, gt, dim=1, eps=1e-12).mean()
            sst = ((gt - gt.mean(0)) ** 2).sum()
            r2 = 1 - ((gh - gt) ** 2).sum() / sst if sst > 0 else torch.tensor(math.nan)
            power = (gh**2).sum(1).mean()
            common = (gh.mean(0) ** 2).sum() / power if power > 0 else torch.tensor(math.nan)
            for key, v in (("cosine", cos), ("r2", r2), ("common", common)):
                out[key].append(_finite_or_none(float(v)))
        return out


def judge_convergence(curves: dict[str, list], budget: int) -> bool:
    """The protocol's rule on a run's validation-error curve.

    A run evaluated too sparsely to have a point before the last quarter of its budget
    cannot show a plateau and counts as not converged.
    """
    steps = curves["step"]
    if not steps or steps[0] > 0.75 * budget:
        return False
    return converged([1 - a for a in curves["val_acc"]], steps, budget=budget)


def _split(cfg: dict[str, Any]):
    dataset, arch, _ = parse_task(cfg["task"])
    full = load_dataset(dataset, cfg["data_dir"])
    split = full.validation_split()
    parts = [split.x_train, split.y_train, split.x_test, split.y_test, full.x_test, full.y_test]
    if arch == "cnn" and split.x_train.ndim == 2:  # MNIST-1D sequences as one channel
        parts = [p[:, None, :] if p.ndim == 2 else p for p in parts]
    return parts, full.n_classes


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Train one cell and return its JSON-serialisable result.

    Returns
    -------
    dict
        ``status`` ("ok" or "diverged"), ``val_acc`` (best over the evaluation points)
        and ``test_acc`` there, the final ones, ``best_step``, ``converged``,
        ``hyperparameters``, ``scales`` (warm-up, or None), ``curves`` (lists over the
        evaluation points: ``step``, ``val_acc``, ``test_acc``, ``train_loss``, and
        per-module lists ``cosine``, ``r2``, ``common``, ``value_mse``, ``value_term``,
        ``grad_term``, per-cut ``dead``), ``seconds`` and ``seconds_per_step``.
        Non-finite numbers are stored as None.
    """
    cfg = validate_cell(config)
    parts, n_classes = _split(cfg)
    trainer = Trainer(cfg, parts[0].shape[1:], n_classes)
    dev = trainer.device
    x_tr, y_tr, x_val, y_val, x_te, y_te = (torch.from_numpy(p).to(dev) for p in parts)
    # A fixed monitoring batch (independent of the seed) for the diagnostics.
    mon = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(12345))
    mon = mon[: cfg["monitor_size"]].to(dev)
    x_mon, y_mon = x_tr[mon], y_tr[mon]
    if cfg["method"] == "sobolev_critic" and cfg["normalise"]:
        trainer.warm_up(x_mon, y_mon)
    n_train, steps = len(y_tr), cfg["steps"]
    batches = minibatches(
        n_train, min(cfg["batch_size"], n_train), torch.Generator().manual_seed(cfg["seed"])
    )
    # All the run's batch indices drawn up front and moved once: no per-step copy.
    first = next(batches)
    order = (
        None
        if first is None
        else torch.stack([first] + [next(batches) for _ in range(steps - 1)]).to(dev)
    )
    keys = ("step", "val_acc", "test_acc", "train_loss", "value_term", "grad_term")
    curves: dict[str, list] = {k: [] for k in keys}
    curves.update(cosine=[], r2=[], common=[], value_mse=[], dead=[])
    status, diverged_step = "ok", None
    run_loss = torch.zeros((), device=dev)
    run_terms = torch.zeros(len(trainer.modules), 2, device=dev)
    count = 0
    t0 = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        if order is None:
            loss, terms = trainer.step(x_tr, y_tr)
        else:
            loss, terms = trainer.step(x_tr[order[step - 1]], y_tr[order[step - 1]])
        run_loss, run_terms, count = run_loss + loss, run_terms + terms, count + 1
        if step % cfg["eval_every"] and step != steps:
            continue
        mean_loss, mean_terms = float(run_loss) / count, (run_terms / count).tolist()
        if not math.isfinite(mean_loss) or not all(math.isfinite(v) for r in mean_terms for v in r):
            status, diverged_step = "diverged", step
            break
        diag = trainer.diagnostics(x_mon, y_mon)
        curves["step"].append(step)
        curves["val_acc"].append(trainer.accuracy(x_val, y_val))
        curves["test_acc"].append(trainer.accuracy(x_te, y_te))
        curves["train_loss"].append(mean_loss)
        curves["value_term"].append([None if cfg["method"] == "dni" else r[0] for r in mean_terms])
        curves["grad_term"].append([r[1] for r in mean_terms])
        for key in ("cosine", "r2", "common", "value_mse", "dead"):
            curves[key].append(diag[key])
        run_loss, run_terms, count = torch.zeros_like(run_loss), torch.zeros_like(run_terms), 0
    seconds = time.perf_counter() - t0
    ok = status == "ok"
    best = int(np.argmax(curves["val_acc"])) if ok else None
    return {
        "task": cfg["task"],
        "method": cfg["method"],
        "critic_activation": cfg["critic_activation"],
        "trial": cfg["trial"],
        "seed": cfg["seed"],
        "hyperparameters": {k: cfg[k] for k in ("lr", "module_lr", "w_value", "normalise")},
        "scales": trainer.scales,
        "status": status,
        "diverged_step": diverged_step,
        "val_acc": curves["val_acc"][best] if ok else None,
        "test_acc": curves["test_acc"][best] if ok else None,
        "best_step": curves["step"][best] if ok else None,
        "final_val_acc": curves["val_acc"][-1] if ok else None,
        "final_test_acc": curves["test_acc"][-1] if ok else None,
        "converged": judge_convergence(curves, steps) if ok else False,
        "curves": curves,
        "seconds": seconds,
        "seconds_per_step": seconds / max(step, 1),
    }
