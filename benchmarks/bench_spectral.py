"""How much the spectral penalty costs, against the matrix product that bounds it and against a plain training step.

For a layer of width D at batch B the penalty needs the projections (H - mean) V, a [B, D] x [D, D] product
(2 B D^2 flops), and the same product again in the backward pass to H: 4 B D^2 flops in all, the floor any
implementation of it pays. The table compares

1. penalty(h) + backward to h, for h = tanh activations of a Linear(784, 2000) at batch 3500 (the network excluded);
2. a plain [B, D] @ [D, D] product + backward to its left factor: the same 4 B D^2 flops, timed interleaved with (1)
   so that both see the same machine load;
3. one whole training step of the paper's shallow net (784-2000-10 tanh, Adam with AMSGrad), vanilla and with the
   spectral penalty on its hidden layer;
4. the eigenbasis's own cost per step: the paper's once-per-epoch refresh (a forward pass over the eigen subset, its
   covariance and an eigendecomposition) spread over the steps of an epoch, against the tracked basis (a running
   covariance updated from each batch's features and an eigendecomposition every k steps, k = 1, 2, 5).

Run: PYTHONPATH=. python benchmarks/bench_spectral.py [--device cpu|cuda] [--repeats 10] [--out results.json]

``--out`` writes the per-call times and the ratios as JSON with the machine they were measured on (the eigenbasis
chapter reads ``benchmarks/results/bench_spectral_cpu.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from onen.features import capture
from onen.regularizers import SpectralRegularizer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(fns: dict[str, Callable[[], None]], device: torch.device, repeats: int,
                     warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, measured round-robin (so load changes hit all of them alike)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10, help="a multiple of 10 averages k = 1, 2, 5 evenly")
    parser.add_argument("--batch", type=int, default=3500)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--eigen-images", type=int, default=60000, help="the paper's refresh uses all training images")
    parser.add_argument("--train-images", type=int, default=60000, help="sets the steps per epoch")
    parser.add_argument("--out", default=None, help="write the times and ratios to this JSON file")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch, width, repeats = args.batch, args.width, args.repeats
    torch.manual_seed(0)

    load_at_start = os.getloadavg()[0]
    print(f"load average at start {load_at_start:.1f} (other work on the machine slows every row alike: the "
          "rows are timed round-robin, so their ratios hold up better than their times)")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"batch {batch}, width {width}, median of {repeats} (after warm-up)")

    # the paper's shallow net and inputs with MNIST's range; the basis comes from a refresh on 2 batches of them
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.Tanh(), nn.Linear(width, 10)).to(device)
    x = torch.rand(batch, 784, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    reg = SpectralRegularizer(model, [model[2]], beta=1.0, tau=10, alpha=1.0)
    reg.refresh(torch.rand(2 * batch, 784, device=device))
    with torch.no_grad():
        h0 = model[2](model[1](x))

    # 1. the penalty alone: forward + backward to h
    h = h0.clone().requires_grad_(True)

    def penalty_only() -> None:
        h.grad = None
        reg.penalty([h]).backward()

    # 2. the same flops as one plain product: a [B, D] @ [D, D] forward and its backward to the left factor
    a = h0.clone().requires_grad_(True)
    w = reg.bases[0].detach().clone()

    def matmul_only() -> None:
        a.grad = None
        (a @ w).sum().backward()

    # 3. whole training steps
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)

    def vanilla_step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def regularized_step(regularizer: SpectralRegularizer) -> Callable[[], None]:
        def step() -> None:
            with capture(regularizer.layers) as feats:
                logits = model(x)
            loss = F.cross_entropy(logits, y) + regularizer.penalty(feats)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        return step

    spectral_step = regularized_step(reg)
    tracked = {k: SpectralRegularizer(model, [model[2]], beta=1.0, tau=10, alpha=1.0, basis="tracked",
                                      track_every=k, track_momentum=0.5) for k in (1, 2, 5)}
    for reg_k in tracked.values():
        reg_k.refresh(torch.rand(2 * batch, 784, device=device))

    eigen_images = torch.rand(args.eigen_images, 784, device=device)
    steps_per_epoch = args.train_images // batch

    def epoch_refresh() -> None:
        reg.refresh(eigen_images)

    times = time_interleaved({"penalty": penalty_only, "matmul": matmul_only}, device, repeats)
    steps = {"vanilla step": vanilla_step, "spectral step": spectral_step}
    steps |= {f"tracked step k={k}": regularized_step(r) for k, r in tracked.items()}
    times |= time_interleaved(steps, device, repeats, warmup=5)
    times |= time_interleaved({"epoch refresh": epoch_refresh}, device, max(2, repeats // 3), warmup=0)
    med = {name: statistics.median(t) for name, t in times.items()}
    # a tracked step with k > 1 alternates cheap steps and steps with an eigendecomposition: its cost is the mean
    med |= {name: statistics.mean(t) for name, t in times.items() if name.startswith("tracked")}
    paper_step = med["spectral step"] + med["epoch refresh"] / steps_per_epoch

    flops = 4 * batch * width**2
    print()
    print(f"{'what':<44}{'median ms':>11}{'min ms':>9}{'GFLOP/s':>10}")
    rows = [
        ("penalty(h) + backward (4BD^2 floor)", "penalty", flops),
        ("matmul [B,D]@[D,D] + backward (4BD^2)", "matmul", flops),
        ("vanilla step 784-2000-10, Adam amsgrad", "vanilla step", None),
        ("spectral step (vanilla + penalty)", "spectral step", None),
    ]
    for label, key, f in rows:
        rate = f"{f / med[key] / 1e9:10.1f}" if f else f"{'':>10}"
        print(f"{label:<44}{med[key] * 1e3:11.1f}{min(times[key]) * 1e3:9.1f}{rate}")
    print()
    print(f"penalty throughput / matmul throughput: {med['matmul'] / med['penalty']:.0%}  (aim >= 70%)")
    print(f"spectral step / vanilla step:           {med['spectral step'] / med['vanilla step']:.2f}x (target <= 3x)")
    print()
    print(f"the paper's basis: one refresh over {args.eigen_images} images {med['epoch refresh']:.2f} s, per epoch of "
          f"{steps_per_epoch} steps; its step with the refresh spread over the epoch {paper_step * 1e3:.0f} ms")
    for k in tracked:
        step = med[f"tracked step k={k}"]
        print(f"tracked basis, eigendecomposition every {k} step(s): {step * 1e3:6.0f} ms per step = "
              f"{step / paper_step:.2f}x the paper's step, {step / med['vanilla step']:.2f}x vanilla (aim <= 1.5x paper)")
    if args.out:
        record = {
            "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                        "device": str(device), "load_average_start": load_at_start,
                        "load_average_end": os.getloadavg()[0]},
            "settings": {"batch": batch, "width": width, "repeats": repeats, "eigen_images": args.eigen_images,
                         "steps_per_epoch": steps_per_epoch},
            "seconds": {name: t for name, t in times.items()},
            "summary_seconds": med | {"paper step": paper_step},
            "ratios": {"spectral / vanilla": med["spectral step"] / med["vanilla step"],
                       "penalty / matmul": med["penalty"] / med["matmul"],
                       **{f"tracked k={k} / paper": med[f"tracked step k={k}"] / paper_step for k in tracked},
                       **{f"tracked k={k} / vanilla": med[f"tracked step k={k}"] / med["vanilla step"]
                          for k in tracked}},
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(args.out, "w") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
