"""onen.analysis.claims: each claim judged raw and above its own architecture's frontier, against hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from onen.analysis import claims, control
from onen.cache import CachedResult
from onen.runs.config import TrainConfig

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def run(seed: int, per_eps: list[int], n: int = 100, epochs: int = 50) -> CachedResult:
    correct = np.stack([np.arange(n) < k for k in per_eps])
    acc = correct.mean(axis=1)
    return CachedResult(arrays={"eps_pgd": EPS, "acc_pgd": acc, "correct_pgd": correct},
                        meta={"clean_accuracy": float(acc[0])},
                        provenance={"config": {"train": TrainConfig(widths=[8], epochs=epochs, seed=seed).to_dict()},
                                    "seed": seed})


def test_an_interaction_across_architectures_is_judged_raw_and_above_each_frontier() -> None:
    nets = {"shallow Vanilla": [run(0, [100, 75, 25, 0])], "shallow SpecReg": [run(0, [80, 60, 20, 0])],
            "MLP Vanilla": [run(0, [90, 90, 90, 0])], "MLP SpecReg": [run(0, [70, 70, 0, 0])]}
    found = {"shallow": control.Frontier({1: [run(0, [60, 30, 0, 0], epochs=1)], 50: nets["shallow Vanilla"]}),
             "MLP": control.Frontier({1: [run(0, [50, 50, 0, 0], epochs=1)], 50: nets["MLP Vanilla"]})}
    claim = claims.Claim("deep gain below shallow gain", "test", ((+1, "MLP SpecReg"), (-1, "MLP Vanilla"),
                                                                (-1, "shallow SpecReg"), (+1, "shallow Vanilla")), -1)
    [judged] = claims.judge([claim], nets, found, gate=lambda names: None, n_boot=20)
    # eps50 by hand: MLP SpecReg 0.15, MLP Vanilla 0.25, shallow SpecReg 0.15, shallow Vanilla 0.15
    assert judged.raw.mean == pytest.approx((0.15 - 0.25) - (0.15 - 0.15))
    # above the frontiers: Vanillas sit on theirs (0); MLP SpecReg at 0.7 against 0.2; shallow SpecReg at 0.8 vs 0.125
    assert judged.above.per_seed[0] == pytest.approx((0.15 - 0.2) - (0.15 - 0.125))
    assert judged.verdict == judged.verdict_above == "not enough seeds"
    [blocked] = claims.judge([claim], nets, found, gate=lambda names: "not tested: because", n_boot=20)
    assert blocked.verdict == blocked.verdict_above == "not tested: because"
    row = claims.rows([judged])[0]
    assert row[2] == "−" and row[3] == f"{judged.raw.mean:+.3f}" and row[-1] == "not enough seeds"
