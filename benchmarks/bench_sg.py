"""Cost of a Sobolev-critic update against a gradient-only critic (and DNI, backprop).

Side by side in one process, one torch thread, interleaved repeats, median times:

* *module update*: one training step of the module at the highest cut on a batch of
  activations (critic: SobolevLoss weights (0, 1); Sobolev: (1, 1); sg: MSE);
* *full step*: one complete update of network and modules (:meth:`Trainer.step`).

Run: ``.venv/bin/python benchmarks/bench_sg.py`` (about a minute).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from sobolev_lab.experiments.synthetic_gradients.data import load_dataset
from sobolev_lab.experiments.synthetic_gradients.train import Trainer

REPEATS, INNER = 15, 20


def _median_ms(fn) -> float:
    fn()  # warm up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(INNER):
            fn()
        times.append((time.perf_counter() - t0) / INNER * 1e3)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    data = load_dataset("digits")
    x = torch.from_numpy(data.x_train[:64])
    y = torch.from_numpy(data.y_train[:64])
    print(f"torch {torch.__version__}, 1 thread; digits MLP 64-256-256-256-10, batch 64")
    for modules in (1, 3):
        trainers = {
            m: Trainer({"method": m, "modules": modules}, data.input_shape, 10)
            for m in ("backprop", "sg", "critic", "sobolev")
        }
        for tr in trainers.values():  # a few steps so modules are past their zero start
            for _ in range(5):
                tr.step(x, y)
        # Module update alone, on the same activations and targets for every method.
        h = x
        with torch.no_grad():
            for stage in trainers["backprop"].stages[:-1]:
                h = stage(h)
        y1h = F.one_hot(y, 10).float()
        ell, delta = torch.rand(64), torch.randn_like(h)

        def module_update(tr, args=(h, y1h, ell, delta)):
            def run():
                module = tr.modules[-1]
                module.zero_grad(set_to_none=True)
                tr._train_module(module, *args)

            return run

        rows = {}
        for m in ("sg", "critic", "sobolev"):
            rows[f"module update {m}"] = module_update(trainers[m])
        for m, tr in trainers.items():
            rows[f"full step {m}"] = lambda tr=tr: tr.step(x, y)
        # Interleave the methods so machine-load drift affects all alike.
        results = {k: [] for k in rows}
        for _ in range(3):
            for k, fn in rows.items():
                results[k].append(_median_ms(fn))
        ms = {k: statistics.median(v) for k, v in results.items()}
        print(f"\n{modules} module(s)")
        for k, v in ms.items():
            print(f"  {k:<26}{v:8.3f} ms")
        update = ms["module update sobolev"] / ms["module update critic"]
        step = ms["full step sobolev"] / ms["full step critic"]
        print(f"  Sobolev / critic: module update {update:.2f}x, full step {step:.2f}x")


if __name__ == "__main__":
    main()
