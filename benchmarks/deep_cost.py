"""What sections 4.2-4.3 and the CIFAR-10 chapter cost at the paper's settings on this CPU, before any is trained.

For every cost class of the paper profile's deep networks (the penalty, its basis, the regularized layers, whitening
or BatchNorm; beta changes no cost, so one beta stands for three), plus the tracked basis and the shaped layer that
came closest to 1/n in section 4.1:

- the time of one training step at the paper's batch (the median of the steps after the first, timed inside
  :func:`onen.runs.training.train` by its ``after_step`` hook, on synthetic images of the dataset's shape);
- the per-epoch overhead: the spectra of every block on the eigenbasis images (all training images unless the
  profile sets ``eigen_subset``), which the history records after each epoch and the per-epoch basis refreshes from,
  plus the test accuracy;
- one epoch = steps per epoch x step + overhead; the run = epochs x epoch; and the CPU-hours of each part (3 seeds).

It uses the same code the runs use, and 1 thread per process, as the background runs do. A machine under load
inflates every time by the same factor, so the load average is recorded beside them.

Run: PYTHONPATH=. python benchmarks/deep_cost.py [--steps 4] [--threads 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import time

import torch

from onen.analysis import profiles
from onen.attacks import accuracy
from onen.data import Split
from onen.regularizers import SpectralRegularizer, select_layers
from onen.runs.config import TrainConfig
from onen.runs.training import train

TRAIN_IMAGES = {"mnist": 60000, "cifar10": 50000}
SHAPE = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def cost_classes() -> dict[str, tuple[str, TrainConfig]]:
    """One configuration per cost class: (part, config) by name. The MLP and CNN of sections 4.2-4.3 from the
    paper profile's chapters, the CIFAR-10 networks, and the reaching methods on the MLP."""
    classes: dict[str, tuple[str, TrainConfig]] = {}
    for chapter in ("deep_last_layer", "deep_all_layers"):
        for name, (config, _) in profiles.chapter_variants(chapter, "paper").items():
            if config.regularizer == "spectral" and config.beta != 1.0:
                continue  # beta changes no cost
            classes.setdefault(name.split(" β=")[0], (config.arch, config))
    mlp = classes["MLP Vanilla"][1]
    for layers in ("last", "all"):
        classes[f"MLP SpecReg ({layers}) tracked"] = ("mlp", dataclasses.replace(
            mlp, regularizer="spectral", spectral_layers=layers, **profiles.TRACKED))
    classes["MLP shaped (last block)"] = ("mlp", dataclasses.replace(mlp, shape_after=2, eigen_subset=10000))
    for name, config in profiles.cifar_variants("paper").items():
        classes[f"CIFAR {name}"] = ("cifar", config)
    return classes


def networks() -> dict[str, list[str]]:
    """Each part's networks (one seed), as the cost class each one falls in: the deep chapters' MLP and CNN variants
    (those both chapters share counted once), the reaching methods on the MLP, and CIFAR-10's."""
    parts: dict[str, list[str]] = {"mlp": [], "cnn": [], "mlp reaching methods": [], "cifar": []}
    seen: set[str] = set()
    for chapter in ("deep_last_layer", "deep_all_layers"):
        for name, (config, _) in profiles.chapter_variants(chapter, "paper").items():
            if name not in seen:
                seen.add(name)
                parts[config.arch].append(name.split(" β=")[0])
    parts["mlp reaching methods"] = [n for n in cost_classes() if "tracked" in n or "shaped" in n]
    parts["cifar"] = [f"CIFAR {name}" for name in profiles.cifar_variants("paper")]
    return parts


def step_seconds(config: TrainConfig, steps: int) -> float:
    """Median seconds of the training steps after the first, on ``steps`` batches of synthetic images."""
    n = steps * config.batch_size
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, *SHAPE[config.dataset], generator=g)
    split = Split(images, torch.randint(0, 10, (n,), generator=g))
    stamps: list[float] = []
    short = dataclasses.replace(config, epochs=1, eigen_subset=min(config.eigen_subset or n, n), train_subset=None)
    train(short, split, progress=False, after_step=lambda *_: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def overhead_seconds(config: TrainConfig) -> float:
    """Seconds of what train() does once per epoch beyond its steps: the spectra of every block on the eigenbasis
    images (from the per-epoch refresh where a spectral penalty uses that basis) and the test accuracy."""
    images = TRAIN_IMAGES[config.dataset]
    m = min(config.eigen_subset or images, images)
    g = torch.Generator().manual_seed(1)
    inputs = torch.rand(m, *SHAPE[config.dataset], generator=g)
    model = config.model()
    began = time.perf_counter()
    layers = select_layers(model, "all")
    regularizer = SpectralRegularizer(model, layers, allow_small_batch=True)
    regularizer.refresh(inputs)
    test = torch.rand(10000, *SHAPE[config.dataset], generator=g)
    accuracy(model, test, torch.randint(0, 10, (10000,), generator=g))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="batches timed per class (the first is a warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="names of cost classes (default: all)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, hours = {}, {}
    for name, (part, config) in cost_classes().items():
        if args.only and name not in args.only:
            continue
        step = step_seconds(config, args.steps)
        overhead = overhead_seconds(config)
        per_epoch = TRAIN_IMAGES[config.dataset] // config.batch_size * step + overhead
        rows[name] = {"part": part, "batch_size": config.batch_size, "epochs": config.epochs,
                      "step_s": step, "epoch_overhead_s": overhead, "epoch_s": per_epoch,
                      "run_h": per_epoch * config.epochs / 3600}
        print(f"{name:32s} step {step:7.3f} s  overhead {overhead:6.1f} s  epoch {per_epoch:7.1f} s  "
              f"run {rows[name]['run_h']:5.2f} h", flush=True)
        if args.out:  # after every class: a long run stopped part-way keeps what it measured
            _write(args, rows, hours)
    seeds = len(profiles.seeds("paper"))
    for part, names in networks().items():
        if all(n in rows for n in names):
            hours[part] = seeds * sum(rows[n]["run_h"] for n in names)
            print(f"{part}: {len(names)} networks x {seeds} seeds = {hours[part]:.1f} CPU-hours", flush=True)
    if args.out:
        _write(args, rows, hours)


def _write(args: argparse.Namespace, rows: dict, hours: dict) -> None:
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "load_average_1_5_15": list(os.getloadavg()), "torch": torch.__version__,
              "date": datetime.date.today().isoformat(), "classes": rows, "cpu_hours_per_part": hours}
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
