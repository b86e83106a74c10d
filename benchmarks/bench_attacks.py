"""Throughput of PGD-40 and FGSM on the paper's 784-2000-10 tanh MLP, on CPU.

A batch of 1000 random 1x28x28 images in [0, 1] against a randomly initialised network; each attack is warmed up
once, then timed 3 times with time.perf_counter, and the median is reported in images per second.

    python benchmarks/bench_attacks.py [--batch 1000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn as nn

from onen.attacks import fgsm, pgd


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: allocator, kernels, thread pool
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2000), nn.Tanh(), nn.Linear(2000, 10))
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    gen = torch.Generator().manual_seed(0)

    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"median of {args.repeats}")
    runs = {
        "PGD-40 (eps 0.1, step 0.01)": lambda: pgd(model, x, y, 0.1, steps=40, step_size=0.01, generator=gen),
        "FGSM (eps 0.1)": lambda: fgsm(model, x, y, 0.1),
    }
    for name, fn in runs.items():
        sec = median_seconds(fn, args.repeats)
        print(f"{name:<30s} {sec:8.3f} s/batch {args.batch / sec:12.1f} images/s")


if __name__ == "__main__":
    main()
