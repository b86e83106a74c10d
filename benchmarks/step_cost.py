"""What one training step of each method costs against Vanilla's, on the same machine in the same run.

Methods: Vanilla, SpecReg with the paper's per-epoch eigenbasis (the step only: its refresh is once per epoch),
SpecReg with the tracked basis (its eigendecomposition every step), a SpectrumShaping layer, Jacobian regularization
(one random projection) and PGD adversarial training (10 steps at eps 0.1). Settings: section 4.1's shallow net
(784-2000-10 tanh, batch 3500) and sections 4.2-4.3's MLP (3x1000 tanh, batch 1500), the regularizers on the last
hidden layer. Each step is timed inside :func:`onen.runs.training.train` by its ``after_step`` hook, on synthetic
images; the methods are timed in turn, round after round, so a change of machine load falls on all of them alike,
and each is reported as the median over rounds and as a ratio to Vanilla's step.

Run: PYTHONPATH=. python benchmarks/step_cost.py [--rounds 3] [--threads 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics

import torch

from deep_cost import step_seconds  # the same step timer as the deep chapters' cost
from onen.analysis import profiles
from onen.runs.config import TrainConfig

SETTINGS = {"shallow 784-2000-10, batch 3500": TrainConfig(widths=[2000], lr=1e-3, batch_size=3500, epochs=50),
            "MLP 3x1000, batch 1500": TrainConfig(widths=[1000, 1000, 1000], lr=1e-4, batch_size=1500, epochs=100)}


def methods(base: TrainConfig) -> dict[str, TrainConfig]:
    last = len(base.widths) - 1
    return {"Vanilla": base,
            "SpecReg, per-epoch basis": dataclasses.replace(base, regularizer="spectral"),
            "SpecReg, tracked basis": dataclasses.replace(base, regularizer="spectral", **profiles.TRACKED),
            "Shaped layer": dataclasses.replace(base, shape_after=last),
            "Jacobian": dataclasses.replace(base, regularizer="jacobian"),
            "PGD-AT (eps 0.1, 10 steps)": dataclasses.replace(base, regularizer="adversarial")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="batches per timing (the first is a warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for setting, base in SETTINGS.items():
        configs = methods(base)
        times: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, config in configs.items():
                times[name].append(step_seconds(config, args.steps))
        vanilla = statistics.median(times["Vanilla"])
        result[setting] = {name: {"step_s": statistics.median(t), "ratio": statistics.median(t) / vanilla}
                           for name, t in times.items()}
        for name, row in result[setting].items():
            print(f"{setting:34s} {name:28s} {row['step_s']:8.3f} s  x{row['ratio']:5.1f}", flush=True)
    record = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": args.threads,
              "load_average_1_5_15": list(os.getloadavg()), "torch": torch.__version__,
              "date": datetime.date.today().isoformat(), "rounds": args.rounds, "steps": result}
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
