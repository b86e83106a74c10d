"""Get a committed network back: train it again from its stored configuration, evaluate it, and compare every stored
number with the committed one.

    python -m onen reproduce 65ac7563272b26c0 --profile paper --weights vanilla4.pt
    python -m onen reproduce "shallow Vanilla" --seed 0 --profile paper

The network is named by its cache hash (``results/<profile>/runs/<hash>.json``) or by the name the chapters give it
(``"shallow Vanilla"``, ``"MLP Jacobian"``, ``"control Shaped α=1"``) with ``--seed``. It is trained into a scratch
results folder (the committed one is never written), with its per-epoch checkpoint under ``$ONEN_CHECKPOINTS`` as
usual, so a finished checkpoint on this machine is loaded instead of trained again. ``--weights`` saves its state dict.

Tolerance. On the same kind of device with the same CPU thread count as the committed provenance, training is
deterministic, and every number must be equal. Otherwise the order of floating-point sums differs in the last bits,
and fifty epochs turn that into a different network of the same configuration: clean accuracy and each attack curve
may then differ by up to ``CURVE_TOLERANCE`` and the hidden spectra by ``SPECTRUM_RTOL`` relative to their own
largest value. The command exits 1, listing each difference beyond the tolerance that applies.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from onen.cache import CachedResult, lookup
from onen.runs.config import EvalConfig, TrainConfig
from onen.analysis import profiles
from onen.runs.experiments import _run_key, run, train_resumable
from onen.runs.training import resolve_device

CURVE_TOLERANCE = 0.01  # accuracy, absolute, on another device or thread count
SPECTRUM_RTOL = 0.05  # eigenvalues, relative to the largest, likewise
EXACT = 1e-12


@dataclasses.dataclass(frozen=True)
class Difference:
    """One stored number that the run trained again does not reproduce within ``tolerance``."""

    key: str
    committed: float
    again: float
    tolerance: float

    def __str__(self) -> str:
        return f"{self.key}: committed {self.committed:.6g}, trained again {self.again:.6g} (tolerance {self.tolerance:g})"


def find(target: str, profile: str, seed: int | None, results_dir: str) -> tuple[TrainConfig, EvalConfig]:
    """The configuration of the committed network ``target``: a cache hash under ``results_dir/runs``, or a chapter
    name with ``seed``. Raises ValueError naming what is missing."""

    path = Path(results_dir) / "runs" / f"{target}.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
        return TrainConfig.from_dict(config["train"]), EvalConfig(**config["eval"])
    if seed is None:
        raise ValueError(f"no committed result {path}; to name a network instead, give --seed")
    networks: dict[str, tuple[TrainConfig, EvalConfig]] = {}
    for chapter in profiles.CHAPTER_VARIANTS:
        for name, (config, evaluation) in profiles.chapter_variants(chapter, profile).items():
            if chapter == "shallow":
                networks[f"shallow {name}"] = (config, evaluation)
            elif chapter == "control":
                networks[f"control {name}"] = (config, evaluation)
            else:
                networks[name] = (config, evaluation)
    if target not in networks:
        raise ValueError(f"no network {target!r} in the {profile} profile (names such as {sorted(networks)[:3]})")
    config, evaluation = networks[target]
    return dataclasses.replace(config, seed=seed), evaluation


def _same_machine_kind(a: CachedResult, b: CachedResult) -> bool:
    return (str(a.provenance.get("device", "")).split(":")[0] == str(b.provenance.get("device", "")).split(":")[0]
            and a.provenance.get("torch_threads") == b.provenance.get("torch_threads"))


def compare(committed: CachedResult, again: CachedResult) -> list[Difference]:
    """Every stored number of ``committed`` that ``again`` does not reproduce (see the module's tolerance)."""
    exact = _same_machine_kind(committed, again)
    found: list[Difference] = []
    for key, value in committed.arrays.items():
        other = again.arrays.get(key)
        if other is None or np.shape(other) != np.shape(value):
            found.append(Difference(f"{key} (shape)", float(np.size(value)), float(np.size(other)), 0.0))
            continue
        a, b = np.asarray(value, dtype=np.float64), np.asarray(other, dtype=np.float64)
        if key.startswith("spectrum"):
            tolerance = EXACT if exact else SPECTRUM_RTOL * float(np.max(np.abs(a)) or 1.0)
        elif key.startswith(("acc_", "correct_")):
            tolerance = EXACT if exact else CURVE_TOLERANCE
            if key.startswith("correct_"):  # per-image outcomes: compare their accuracy per radius
                a, b = a.mean(axis=-1), b.mean(axis=-1)
        elif key.startswith("sensitivity") and not exact:
            continue  # input gradients of another network of the same configuration are another map
        else:
            tolerance = EXACT
        gap = np.abs(a - b)
        if gap.size and float(gap.max()) > tolerance:
            i = int(np.argmax(gap))
            found.append(Difference(f"{key}[{i}]", float(a.flat[i]), float(b.flat[i]), tolerance))
    for key in ("clean_accuracy", "clean_accuracy_attacked"):
        if key in committed.meta:
            tolerance = EXACT if exact else CURVE_TOLERANCE
            if abs(committed.meta[key] - again.meta.get(key, np.nan)) > tolerance or key not in again.meta:
                found.append(Difference(key, committed.meta[key], again.meta.get(key, np.nan), tolerance))
    return found


def reproduce(target: str, profile: str = "paper", seed: int | None = None, results_dir: str | None = None,
              device: str = "auto", weights: str | None = None,
              scratch: str | None = None) -> tuple[CachedResult, CachedResult, list[Difference]]:
    """Train and evaluate the committed network ``target`` again (into ``scratch``, a temporary folder if None) and
    compare; returns (committed, again, differences)."""

    folder = results_dir or str(profiles.committed_results(profile))
    config, evaluation = find(target, profile, seed, folder)
    committed = lookup("runs", _run_key(config, evaluation), folder)
    if committed is None:
        raise ValueError(f"{target}: no committed result for this configuration under {folder}")
    with tempfile.TemporaryDirectory(prefix="onen-reproduce-") as tmp:
        again = run(config, evaluation, scratch or tmp, device)
        if weights is not None:
            model, _, _ = train_resumable(config, resolve_device(device), False, scratch or tmp)
            torch.save(model.state_dict(), weights)
    return committed, again, compare(committed, again)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m onen reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a cache hash, or a network's name with --seed")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--results-dir", default=None, help="where the committed result is (default results/<profile>)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", default=None, help="save the trained state dict here")
    args = parser.parse_args(argv)
    try:
        committed, again, differences = reproduce(args.target, args.profile, args.seed, args.results_dir,
                                                  args.device, args.weights)
    except ValueError as err:
        parser.error(str(err))
    threads = (committed.provenance.get("torch_threads"), again.provenance.get("torch_threads"))
    print(f"{args.target}: committed on {committed.provenance.get('device')} ({threads[0]} threads), trained again on "
          f"{again.provenance.get('device')} ({threads[1]} threads); clean accuracy {committed.meta['clean_accuracy']:.4f}"
          f" and {again.meta['clean_accuracy']:.4f}")
    if differences:
        for difference in differences:
            print(f"  differs: {difference}")
        raise SystemExit(1)
    print("  every stored number reproduced")

