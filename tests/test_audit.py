"""The attack audit: our attacks against torchattacks', the per-image logic of the curves, the masking flags on a
deliberately masked model, determinism, the configuration and the cached run. Synthetic data only, no MNIST."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

# the audit extra is part of every install the Makefile and CI make: a missing torchattacks fails here, loudly
import torchattacks  # noqa: E402

from onen.attacks import accuracy, fgsm, pgd
from onen.robustness.audit import (ATTACKS, AuditConfig, audit_curves, audit_run, masking_flags,  # noqa: E402
                        transfer_curve)
from test_experiments import synthetic_split

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py

N_CLASSES = 5
SMALL = {"pgd_steps": 20, "restarts": 4, "apgd_steps": 10, "apgd_t_targets": 2, "square_queries": 100}
GRID = [0.0, 0.05, 0.1, 0.2, 0.4]


def blobs(n: int, seed: int, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """n images [n, 1, 8, 8] in [0, 1]: two Gaussian blobs per class around ``centers`` [2 * N_CLASSES, 64]."""
    g = torch.Generator().manual_seed(seed)
    blob = torch.arange(n) % centers.shape[0]
    x = (centers[blob] + 0.1 * torch.randn(n, centers.shape[1], generator=g)).clamp(0, 1)
    return x.view(n, 1, 8, 8), blob % N_CLASSES


@pytest.fixture(scope="module")
def task() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 64-32-5 tanh MLP trained for a second on blobs in [0, 1]^64, and 200 held-out images."""
    centers = 0.25 + 0.5 * torch.rand(2 * N_CLASSES, 64, generator=torch.Generator().manual_seed(0))
    x_train, y_train = blobs(1000, 1, centers)
    x_test, y_test = blobs(200, 2, centers)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, N_CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        opt.step()
    model.eval()
    assert accuracy(model, x_test, y_test) > 0.95
    return model, x_test, y_test


@pytest.fixture(scope="module")
def curves(task) -> dict[str, np.ndarray]:
    model, x, y = task
    return audit_curves(model, x, y, GRID, seed=0, **SMALL)


class Quantised(nn.Module):
    """Gradient masking by input quantisation: round(x * levels) / levels has zero gradient almost everywhere, so
    every gradient-based attack is blind while the decision boundary is as close as the base model's."""

    def __init__(self, base: nn.Module, levels: int = 10) -> None:
        super().__init__()
        self.base, self.levels = base, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(torch.round(x * self.levels) / self.levels)


def paired_se(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(float) - b.astype(float)
    return float(d.std() / math.sqrt(d.size))


def correct_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (model(x).argmax(1) == y).numpy()


# ----------------------------------------------------------------------------------------------------------------
# our attacks against torchattacks'


def test_fgsm_matches_torchattacks(task):
    model, x, y = task
    for eps in (0.05, 0.1, 0.2):
        ours, theirs = fgsm(model, x, y, eps), torchattacks.FGSM(model, eps=eps)(x, y)
        # the same signed step: torchattacks averages the loss over the batch, we sum it; only a gradient that
        # underflows to zero in one of them (a tie of the sign) may differ
        assert (ours - theirs).abs().gt(1e-6).float().mean().item() < 1e-3
        assert (correct_of(model, ours, y) == correct_of(model, theirs, y)).mean() >= 0.99


def test_pgd_matches_torchattacks_within_noise(task):
    model, x, y = task
    g = torch.Generator().manual_seed(0)
    compared = 0
    for eps in (0.05, 0.1, 0.2):
        ours = correct_of(model, pgd(model, x, y, eps, steps=40, step_size=0.01, generator=g), y)
        torch.manual_seed(1)  # torchattacks draws its random start from the global generator
        theirs = correct_of(model, torchattacks.PGD(model, eps=eps, alpha=0.01, steps=40, random_start=True)(x, y), y)
        if 0.05 < ours.mean() < 0.95:
            compared += 1
        # two runs of one attack with different random starts: their paired difference is noise, 3 SE (plus one
        # image, so that a 0-SE case does not demand identity)
        assert abs(ours.mean() - theirs.mean()) <= 3 * paired_se(ours, theirs) + 1 / len(y)
    assert compared >= 1, "no eps gave an intermediate accuracy: the comparison would be vacuous"


# ----------------------------------------------------------------------------------------------------------------
# the curves


def test_curves_shapes_and_accuracy_is_the_mean_of_the_outcomes(task, curves):
    _, x, y = task
    assert np.array_equal(curves["eps"], GRID)
    for a in (*ATTACKS, "worst"):
        assert curves[f"correct_{a}"].shape == (len(GRID), len(y)) and curves[f"correct_{a}"].dtype == bool
        np.testing.assert_allclose(curves[a], curves[f"correct_{a}"].mean(axis=1))


def test_eps_zero_is_clean_accuracy(task, curves):
    model, x, y = task
    clean = correct_of(model, x, y)
    assert np.array_equal(curves["correct_clean"], clean)
    for a in (*ATTACKS, "worst"):
        assert np.array_equal(curves[f"correct_{a}"][0], clean)
        assert curves[a][0] == pytest.approx(accuracy(model, x, y), abs=1e-12)


def test_worst_is_the_per_image_minimum_and_restarts_never_hurt(curves):
    worst = curves["correct_worst"]
    for a in ATTACKS:
        assert not np.any(worst & ~curves[f"correct_{a}"]), a
    assert np.array_equal(worst, np.logical_and.reduce([curves[f"correct_{a}"] for a in ATTACKS]))
    assert not np.any(curves["correct_pgd_restarts"] & ~curves["correct_pgd"])
    # a robust image is one classified correctly clean
    assert not np.any(worst & ~curves["correct_clean"][None, :])


def test_the_attacks_do_attack(task, curves):
    """At a radius where the clean margin is crossed, each attack breaks images, and the ensemble nearly all."""
    _, _, y = task
    k = GRID.index(0.2)
    for a in ATTACKS:
        assert curves[a][k] < curves[a][0] - 0.2, a
    assert curves["worst"][-1] <= 0.02


def test_restarts_only_add_images_they_break(task):
    """pgd_restarts with 1 start is pgd; more starts only remove robust images."""
    model, x, y = task
    one = audit_curves(model, x, y, [0.0, 0.1], attacks=("pgd", "pgd_restarts"), restarts=1, pgd_steps=10)
    many = audit_curves(model, x, y, [0.0, 0.1], attacks=("pgd", "pgd_restarts"), restarts=6, pgd_steps=10)
    assert np.array_equal(one["correct_pgd_restarts"], one["correct_pgd"])
    assert np.array_equal(many["correct_pgd"], one["correct_pgd"])  # the first start does not depend on restarts
    assert not np.any(many["correct_pgd_restarts"] & ~one["correct_pgd"])


def test_transfer_from_the_model_itself_is_its_own_pgd(task, curves):
    """Crafting on the target itself with the same seed gives exactly the white-box PGD outcome."""
    model, x, y = task
    t = transfer_curve(model, model, x, y, GRID, seed=0, pgd_steps=SMALL["pgd_steps"])
    assert np.array_equal(t["correct_transfer"], curves["correct_pgd"])
    np.testing.assert_allclose(t["transfer"], curves["pgd"])


def test_transfer_from_another_network(task):
    model, x, y = task
    torch.manual_seed(3)
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, N_CLASSES))  # untrained: its gradients carry little
    t = transfer_curve(other, model, x, y, [0.0, 0.1], pgd_steps=10)
    assert t["correct_transfer"].shape == (2, len(y))
    assert not np.any(t["correct_transfer"] & ~t["correct_clean"][None, :])
    assert t["transfer"][0] == pytest.approx(accuracy(model, x, y))


def test_inputs_are_validated(task):
    model, x, y = task
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        audit_curves(model, x * 2, y, [0.0, 0.1], attacks=("pgd",))
    with pytest.raises(ValueError, match="finite"):
        audit_curves(model, x, y, [0.0, float("nan")], attacks=("pgd",))
    with pytest.raises(ValueError, match="ascending"):
        audit_curves(model, x, y, [0.1, 0.0], attacks=("pgd",))
    with pytest.raises(ValueError, match="unknown"):
        audit_curves(model, x, y, [0.1], attacks=("pgd", "fab"))
    with pytest.raises(ValueError, match="image-shaped"):
        audit_curves(nn.Linear(63, 5), torch.rand(4, 63), torch.zeros(4, dtype=torch.long), [0.1],
                     attacks=("apgd_ce",))


# ----------------------------------------------------------------------------------------------------------------
# masking


def test_a_gradient_masked_model_is_flagged_and_the_plain_one_is_not(task, curves):
    model, x, y = task
    masked = Quantised(model)
    assert accuracy(masked, x, y) > 0.9
    grid = [0.0, 0.1, 0.2, 0.3]
    masked_curves = audit_curves(masked, x, y, grid, **{**SMALL, "square_queries": 300})
    flags = masking_flags(masked_curves, len(y))
    assert flags["black_box_beats_white_box"] and flags["any"], flags.reasons
    assert "square" in flags.reasons["black_box_beats_white_box"]
    plain = masking_flags(curves, len(y))
    assert not plain["black_box_beats_white_box"], plain.reasons
    assert not plain["not_zero_at_largest_eps"], plain.reasons


def test_masking_flags_follow_their_definitions():
    n, rng = 1000, np.random.default_rng(0)
    eps = np.array([0.0, 0.1, 0.3])
    base = rng.random((3, n)) < np.array([[0.9], [0.5], [0.0]])

    def make(**overrides: np.ndarray) -> dict[str, np.ndarray]:
        outcomes = {"pgd": base, "pgd_restarts": base, "apgd_ce": base, "apgd_t": base, "square": base, **overrides}
        out = {"eps": eps, **{a: c.mean(axis=1) for a, c in outcomes.items()},
               **{f"correct_{a}": c for a, c in outcomes.items()}}
        worst = np.logical_and.reduce(list(outcomes.values()))
        return {**out, "worst": worst.mean(axis=1), "correct_worst": worst}

    assert not any(masking_flags(make(), n).values())
    # square breaks 8 more images than every white-box attack at eps 0.1, and none less: 8 / sqrt(8) > 2 SE
    fewer = base.copy()
    fewer[1, np.flatnonzero(base[1])[:8]] = False
    assert masking_flags(make(square=fewer), n)["black_box_beats_white_box"]
    # ... while 2 such images are within noise
    slightly = base.copy()
    slightly[1, np.flatnonzero(base[1])[:2]] = False
    assert not masking_flags(make(square=slightly), n)["black_box_beats_white_box"]
    # a transfer attack counts as black-box too
    assert masking_flags({**make(), "transfer": fewer.mean(1), "correct_transfer": fewer}, n)[
        "black_box_beats_white_box"]
    # restarts: 3 points lower is flagged, 1 point is not
    for share, flagged in ((0.03, True), (0.01, False)):
        restarted = base.copy()
        restarted[1, np.flatnonzero(base[1])[:int(share * n)]] = False
        assert masking_flags(make(pgd_restarts=restarted), n)["restarts_matter"] is flagged
    # the 2-point threshold is counted in images: 10 of 500 is not more than 2%, 11 is, whatever the float rounding
    m = 500
    # 17/500 - 7/500 exceeds 0.02 in floating point although it is exactly 10 images
    for pgd_acc, broken, flagged in ((17 / 500, 10, False), (0.414, 11, True), (0.3, 10, False), (0.7, 11, True)):
        correct = np.zeros((2, m), dtype=bool)
        correct[:, 0] = True
        correct[1, :round(pgd_acc * m)] = True
        restarted = correct.copy()
        restarted[1, 1:1 + broken] = False
        curves = {"eps": np.array([0.0, 0.1]), "pgd": correct.mean(1), "pgd_restarts": restarted.mean(1),
                  "correct_pgd": correct, "correct_pgd_restarts": restarted}
        assert masking_flags(curves, m)["restarts_matter"] is flagged, (pgd_acc, broken)
    # 5% left at the largest eps is not ~0; 1% is
    for share, flagged in ((0.05, True), (0.01, False)):
        left = base.copy()
        left[2, :int(share * n)] = True
        everything = {a: left for a in ("pgd", "pgd_restarts", "apgd_ce", "apgd_t", "square")}
        assert masking_flags(make(**everything), n)["not_zero_at_largest_eps"] is flagged
    with pytest.raises(ValueError, match="shape"):
        masking_flags(make(), n + 1)


# ----------------------------------------------------------------------------------------------------------------
# determinism, RNG and mode


def test_same_seed_same_arrays_and_the_callers_rng_and_mode_are_untouched(task, curves):
    model, x, y = task
    model.train()
    model[1].eval()  # a mixed state: each submodule's own flag must come back
    modes = [m.training for m in model.modules()]
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    try:
        again = audit_curves(model, x, y, GRID, seed=0, **SMALL)
        assert torch.equal(torch.get_rng_state(), state)
        assert [m.training for m in model.modules()] == modes
    finally:
        model.eval()
    assert again.keys() == curves.keys()
    for key, value in curves.items():
        assert np.array_equal(again[key], value), key


def test_an_attack_that_raises_still_restores_the_mode(task):
    model, x, y = task
    model.train()
    try:
        with pytest.raises(ValueError, match="4 classes"):  # APGD-T's DLR loss needs 4 classes; this model has 3
            audit_curves(nn.Sequential(model, nn.Linear(N_CLASSES, 3)), x, y, [0.1], attacks=("apgd_t",))
        assert all(m.training for m in model.modules())
    finally:
        model.eval()


# ----------------------------------------------------------------------------------------------------------------
# configuration and the cached run


@pytest.mark.parametrize("changes, message", [
    ({"eps": (0.0, float("nan"))}, "finite"),
    ({"eps": (0.0, float("inf"))}, "finite"),
    ({"eps": (0.2, 0.1)}, "ascending"),
    ({"eps": (0.1, 0.1)}, "ascending"),
    ({"eps": (0.0, 1.5)}, r"\[0, 1\]"),
    ({"eps": ()}, "empty"),
    ({"attacks": ("pgd", "cw")}, "unknown"),
    ({"attacks": ()}, "at least one"),
    ({"n_images": 0}, "n_images"),
    ({"restarts": 0}, "restarts"),
    ({"square_queries": 1.5}, "square_queries"),
    ({"pgd_step_size": float("nan")}, "pgd_step_size"),
])
def test_audit_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        AuditConfig(**changes)


def test_audit_config_is_frozen_and_round_trips():
    config = AuditConfig(eps=[0, 0.1], attacks=["pgd", "square"], n_images=10)
    assert config.eps == (0.0, 0.1) and config.attacks == ("pgd", "square")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_images = 3  # type: ignore[misc]
    assert AuditConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["eps"] == [0.0, 0.1]


def test_audit_run_cache_hit_equals_fresh_and_the_audit_is_in_the_key(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from onen.runs import experiments
    from onen.runs.config import TrainConfig
    from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, NotCached

    splits = {"train": synthetic_split(200, 0), "test": synthetic_split(60, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    config = TrainConfig(widths=[16], epochs=2, batch_size=50, lr=1e-2)
    source = dataclasses.replace(config, seed=1)
    audit = AuditConfig(eps=(0.0, 0.1, 0.3), n_images=40, restarts=2, pgd_steps=5, apgd_steps=5, apgd_t_targets=2,
                        square_queries=20, batch_size=16)
    fresh = audit_run(config, audit, str(tmp_path), device="cpu", transfer_source=source, progress=False)
    assert fresh.arrays["correct_worst"].shape == (3, 40) and fresh.arrays["correct_transfer"].shape == (3, 40)
    assert set(fresh.meta["flags"]) == set(fresh.meta["reasons"]) >= {"black_box_beats_white_box", "any"}
    # the audited images are the test subset's, and the curves are those of the checkpointed model
    subset = splits["test"].subset(40, seed=0)
    assert np.array_equal(fresh.arrays["labels"], subset.labels.numpy())
    assert np.array_equal(splits["test"].labels[fresh.arrays["image_index"]].numpy(), subset.labels.numpy())
    model, _, _ = experiments.train_resumable(config, torch.device("cpu"), False, str(tmp_path))
    direct = audit_curves(model, subset.images, subset.labels, audit.eps, **audit.curve_kwargs())
    for key, value in direct.items():
        if key not in ("worst", "correct_worst"):
            assert np.array_equal(fresh.arrays[key], value), key
    # the ensemble takes the transfer attack in: an image is robust only if the white-box attacks and transfer fail
    expected = direct["correct_worst"] & fresh.arrays["correct_transfer"]
    assert np.array_equal(fresh.arrays["correct_worst"], expected)
    assert np.allclose(fresh.arrays["worst"], expected.mean(axis=1))

    from onen.robustness.audit import stored_audit

    found = stored_audit(config, audit, str(tmp_path), transfer_source=source)
    assert found is not None and np.array_equal(found.arrays["correct_worst"], fresh.arrays["correct_worst"])
    assert stored_audit(config, audit, str(tmp_path)) is None  # without the source it is another entry
    assert stored_audit(config, dataclasses.replace(audit, restarts=3), str(tmp_path), transfer_source=source) is None
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")  # from here on, anything not cached raises instead of training
    again = audit_run(config, audit, str(tmp_path), device="cpu", transfer_source=source, progress=False)
    assert again.arrays.keys() == fresh.arrays.keys()
    for key, value in fresh.arrays.items():
        assert np.array_equal(again.arrays[key], value), key
    assert again.meta == fresh.meta
    with pytest.raises(NotCached):  # another audit of the same weights is another entry
        audit_run(config, dataclasses.replace(audit, restarts=3), str(tmp_path), device="cpu",
                  transfer_source=source, progress=False)
    with pytest.raises(NotCached):  # so is the same audit without the transfer source
        audit_run(config, audit, str(tmp_path), device="cpu", progress=False)


def test_one_registry_serves_the_evaluation_and_the_audit(task) -> None:
    """Every registered attack keeps the threat model (shape, [0, 1], and but for Gaussian noise, whose sigma is eps,
    the eps-ball), and the evaluation's
    robustness_outcomes runs the audit's attacks by name: APGD-CE there never leaves more images standing than
    FGSM's one step does on a net whose gradients are informative."""
    from onen.attacks import ATTACKS as REGISTERED, REGISTRY, Budget, robustness_outcomes

    model, x, y = task
    x, y = x[:60], y[:60]
    eps, budget = 0.1, Budget(steps=5, apgd_steps=5, targets=2, square_queries=20, seed=0)
    assert set(REGISTERED) == {"fgsm", "pgd", "noise", "apgd_ce", "apgd_t", "square"}
    for name, attack in REGISTRY.items():
        x_adv = attack(model, x, y, eps, budget, torch.Generator().manual_seed(0))
        assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
        assert name == "noise" or (x_adv - x).abs().max() <= eps + 1e-6, name
    apgd = robustness_outcomes(model, x, y, [0.0, 0.2], attack="apgd_ce", progress=False)
    fgsm_ = robustness_outcomes(model, x, y, [0.0, 0.2], attack="fgsm", progress=False)
    assert apgd[0].tolist() == fgsm_[0].tolist()
    assert apgd[1].sum() <= fgsm_[1].sum()
