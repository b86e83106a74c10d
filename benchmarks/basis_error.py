"""How well each eigenbasis strategy reads the spectrum it penalizes, at every optimiser step.

Trains the shallow net with the spectral penalty under several basis strategies (same seed, same data order) and, after
every ``--every`` steps, compares the basis with a fresh eigendecomposition of the hidden covariance over held-out test
images (:class:`onen.drift.DriftRecorder` with ``heldout``): the median relative error of the eigenvalue estimates over
the penalized ranks and the relative error of the penalty. The floor is the same error for the exact eigenbasis of the
training images at the same weights. Prints medians and maxima over steps; ``--out`` saves the per-step arrays.

Run: PYTHONPATH=. python benchmarks/basis_error.py --width 500 --batch 500 --train 10000 --epochs 2 --lr 1e-3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from onen.drift import DriftRecorder
from onen.runs.experiments import dataset
from onen.runs.training import TrainConfig, eigen_inputs, train

STRATEGIES = {
    "epoch": dict(),
    "refresh every 5": dict(refresh_every=5),
    "tracked k=1 m=0.5": dict(basis="tracked", track_every=1, track_momentum=0.5),
    "tracked k=5 m=0.5": dict(basis="tracked", track_every=5, track_momentum=0.5),
    "tracked k=5 m=0.8": dict(basis="tracked", track_every=5, track_momentum=0.8),
    "tracked k=2 m=0.8": dict(basis="tracked", track_every=2, track_momentum=0.8),
    "tracked k=2 m=0.5": dict(basis="tracked", track_every=2, track_momentum=0.5),
    "refresh every 1": dict(refresh_every=1),
    "tracked k=1 m=0.3": dict(basis="tracked", track_every=1, track_momentum=0.3),
    "tracked k=1 m=0.8": dict(basis="tracked", track_every=1, track_momentum=0.8),
    "tracked k=1 m=0.95": dict(basis="tracked", track_every=1, track_momentum=0.95),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--train", type=int, default=10000, help="training images (0: all 60000)")
    parser.add_argument("--eigen", type=int, default=3000, help="eigen subset (0: all training images)")
    parser.add_argument("--heldout", type=int, default=10000, help="held-out test images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    train_split, test_split = dataset("mnist", "train", "cpu"), dataset("mnist", "test", "cpu")
    heldout = test_split.subset(args.heldout, seed=0).images
    base = TrainConfig(widths=[args.width], batch_size=args.batch, lr=args.lr, epochs=args.epochs,
                       train_subset=args.train or None, eigen_subset=args.eigen or None, regularizer="spectral",
                       beta=args.beta)
    saved = {}
    print(f"width {args.width} batch {args.batch} lr {args.lr:g} beta {args.beta:g} epochs {args.epochs}")
    print(f"{'strategy':<22}{'median err':>11}{'max err':>9}{'floor':>8}{'pen err med':>12}{'pen err max':>12}"
          f"{'s/step':>8}")
    for name in args.strategies:
        config = dataclasses.replace(base, **STRATEGIES[name])
        recorder = DriftRecorder(eigen_inputs(config, train_split), every=args.every, ks=(10,), heldout=heldout,
                                 floor=True)
        measuring = 0.0
        original = recorder.__call__

        def timed(*a, **k):
            nonlocal measuring
            t = time.perf_counter()
            original(*a, **k)
            measuring += time.perf_counter() - t

        began = time.perf_counter()
        train(config, train_split, None, progress=False, after_step=timed)
        arrays = recorder.arrays()
        per_step = (time.perf_counter() - began - measuring) / recorder.steps_seen
        err, floor, pen = arrays["median_rel_error"], arrays["floor_median_rel_error"], arrays["penalty_rel_error"]
        print(f"{name:<22}{np.median(err):>11.3f}{err.max():>9.3f}{np.median(floor):>8.3f}{np.median(pen):>12.3f}"
              f"{pen.max():>12.3f}{per_step:>8.2f}", flush=True)
        saved[name] = {k: v.tolist() for k, v in arrays.items()}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "records": saved}, f)


if __name__ == "__main__":
    main()
