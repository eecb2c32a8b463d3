"""Cost of one decoupled training step per synthetic-gradient method, CPU or CUDA.

Side by side in one process, one torch thread, interleaved repeats, median times of a
full update of network and modules (:meth:`Trainer.step`) on one batch, for every
method of the study. On CUDA every timed block ends with ``torch.cuda.synchronize()``
(the step itself never synchronises).

Run: ``.venv/bin/python benchmarks/bench_sg.py [--device cuda] [--task mnist1d/cnn/3]``
(about a minute on CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sobolev_lab.experiments.synthetic_gradients.config import METHODS, parse_task
from sobolev_lab.experiments.synthetic_gradients.data import load_dataset
from sobolev_lab.experiments.synthetic_gradients.train import Trainer

REPEATS, INNER = 9, 10


def _median_ms(fn, sync) -> float:
    fn()  # warm up
    sync()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(INNER):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / INNER * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print and return the median ms per step of every method."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:k")
    parser.add_argument("--task", default="digits/mlp/3", help="dataset/arch/modules")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset, arch, _ = parse_task(args.task)
    data = load_dataset(dataset)
    x, y = data.x_train[: args.batch], data.y_train[: args.batch]
    if arch == "cnn" and x.ndim == 2:
        x = x[:, None, :]
    dev = torch.device(args.device)
    x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    trainers = {}
    for m in METHODS:
        act = "softplus" if m.endswith("critic") else None
        cell = {"task": args.task, "method": m, "critic_activation": act, "device": args.device}
        trainers[m] = Trainer(cell, tuple(x.shape[1:]), data.n_classes)
        for _ in range(3):  # past the modules' zero start
            trainers[m].step(x, y)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu, 1 thread"
    print(f"torch {torch.__version__}, {name}; {args.task}, batch {args.batch}")
    results = {m: [] for m in trainers}
    for _ in range(3):  # interleaved so machine-load drift affects all alike
        for m, tr in trainers.items():
            results[m].append(_median_ms(lambda tr=tr: tr.step(x, y), sync))
    ms = {m: statistics.median(v) for m, v in results.items()}
    for m, v in ms.items():
        print(f"  step {m:<18}{v:8.3f} ms   {v / ms['backprop']:5.2f}x backprop")
    return ms


if __name__ == "__main__":
    main()
