"""The experiment runner's guards and the committed paper-profile results (no MNIST needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from onen.analysis import profiles
from onen.cache import _load
from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, EvalConfig, NotCached, checkpoint_dir, run
from onen.runs.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def test_cache_only_refuses_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    with pytest.raises(NotCached, match=CACHE_ONLY_ENV):
        run(TrainConfig(epochs=1), EvalConfig(), str(tmp_path), device="cpu")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing half-written


def test_checkpoint_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "ck"))
    assert checkpoint_dir() == tmp_path / "ck"
    monkeypatch.delenv(CHECKPOINTS_ENV)
    assert checkpoint_dir() == Path.home() / ".onen" / "checkpoints"


def paper_entries() -> list[Path]:
    return sorted((REPO / "results" / "paper" / "runs").glob("*.json"))


def test_committed_paper_results_are_intact_and_are_what_the_chapter_asks_for() -> None:
    """Every committed paper-profile result passes the cache's checksum, was trained on the paper's settings by a
    network of sections 4.1-4.3 or of the control chapter (any seed of the profile), and carries its provenance."""
    entries = paper_entries()
    if not entries:
        pytest.skip("no paper-profile results committed")
    wanted = {}
    evaluation = profiles.evaluation("paper").to_dict()
    networks = [(name, config, evaluation) for name, config in profiles.book_networks("paper").items()]
    networks += [(f"control {name}", config, ev.to_dict())
                 for name, (config, ev) in profiles.chapter_variants("control", "paper").items()]
    for name, config, ev in networks:
        for seed in profiles.seeds("paper"):
            cfg = TrainConfig.from_dict({**config.to_dict(), "seed": seed})
            wanted[json.dumps({"train": cfg.to_dict(), "eval": ev}, sort_keys=True)] = (name, seed)
    for json_path in entries:
        record = json.loads(json_path.read_text())
        loaded = _load(json_path.with_suffix(".npz"), json_path, record["config"])
        assert loaded is not None, json_path
        assert json.dumps(record["config"], sort_keys=True) in wanted, f"{json_path.name} is no network of the book"
        for key in ("git_commit", "torch_version", "device", "wall_time_s", "created", "seed"):
            assert key in loaded.provenance
        # the paper evaluates on all 10000 test images, so accuracy at eps = 0 is the clean accuracy
        assert loaded.arrays["eps_pgd"][0] == 0 and loaded.arrays["acc_pgd"][0] == pytest.approx(
            loaded.meta["clean_accuracy"], abs=1e-9)


@pytest.mark.parametrize("argv, message", [
    (["shallow", "--seeds"], "expected at least one argument"),
    (["shallow", "--device", "tpu"], "unknown device"),
    (["nonsense"], "invalid choice"),
])
def test_the_command_line_refuses_bad_arguments_with_a_message(argv: list[str], message: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from onen.commands.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_the_command_line_writes_beside_the_package_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Started from another folder, the default results folder is still the repository's (here: cache-only, so the
    run stops at the first network missing there, naming that folder)."""
    from onen.commands.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    with pytest.raises(SystemExit, match=str(REPO / "results" / "quick")):  # NotCached, as a one-line error
        main(["shallow", "--variants", "Whitened", "--device", "cpu", "--seeds", "987"])
    assert not any(tmp_path.iterdir())


def synthetic_split(n: int, seed: int):
    import torch

    from onen.data import Split

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = 0.1 * torch.rand(n, 1, 28, 28, generator=g)
    images[torch.arange(n), 0, labels, labels] += 0.8
    return Split(images.clamp(0, 1), labels)


def test_run_end_to_end_cache_hit_equals_fresh_and_the_evaluation_is_in_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from onen.runs import experiments

    splits = {"train": synthetic_split(200, 0), "test": synthetic_split(60, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    config = TrainConfig(widths=[16], epochs=1, batch_size=50, lr=1e-2, regularizer="spectral", tau=2)
    evaluation = EvalConfig(test_subset=40, eps_fgsm=[0.0, 0.1], eps_pgd=[0.0, 0.1], noise_sigmas=[0.0, 0.3],
                            pgd_steps=2, spectrum_subset=40, sensitivity_indices=[0, 1])
    fresh = run(config, evaluation, str(tmp_path), device="cpu", progress=False)
    assert set(fresh.arrays) >= {"spectrum_0", "acc_fgsm", "acc_pgd", "acc_noise", "sensitivity"}
    assert fresh.arrays["sensitivity"].shape == (2, 1, 28, 28) and 0 <= fresh.meta["clean_accuracy"] <= 1
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    again = run(config, evaluation, str(tmp_path), device="cpu", progress=False)
    for key, value in fresh.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], value)
    assert again.meta == fresh.meta
    with pytest.raises(NotCached):  # another evaluation is another entry, even for the same trained weights
        run(config, EvalConfig(**{**evaluation.to_dict(), "pgd_steps": 3}), str(tmp_path), device="cpu")


def test_every_profile_batch_is_as_wide_as_the_layers_its_paper_basis_regularizes() -> None:
    """With the paper's per-epoch basis a batch narrower than a regularized layer gives a rank-deficient batch
    covariance; the tracked basis does not need it."""
    from onen.regularizers import layer_indices

    for profile in profiles.PROFILES:
        for chapter in profiles.CHAPTER_VARIANTS:
            for name, (config, _) in profiles.chapter_variants(chapter, profile).items():
                if config.regularizer != "spectral" or config.basis == "tracked":
                    continue
                widths = [config.widths[i] for i in layer_indices(config.spectral_layers, len(config.widths))]
                assert config.batch_size >= max(widths), (profile, name, config.batch_size, widths)


def test_results_dir_for_defaults_to_the_profiles_folder_and_keeps_a_given_one() -> None:
    assert profiles.results_dir_for("paper", None) == "results/paper"
    assert profiles.results_dir_for("quick", None) == "results/quick"
    assert profiles.results_dir_for("paper", "results/quick") == "results/quick"  # as given, never rewritten
    with pytest.raises(ValueError):
        profiles.results_dir_for("papr", None)


def test_book_networks_cover_every_chapter_once() -> None:
    """Every network of sections 4.1-4.3 once; the deep frontier's Vanilla stopped early is trained by the deep
    chapter, but it is a yardstick, not a book network (the audit and the sanity checks leave it out)."""
    for profile in profiles.PROFILES:
        networks = profiles.book_networks(profile)
        expected = {f"shallow {n}" for n in profiles.shallow_variants(profile)}
        frontier = {f"{arch.upper()} {n}" for arch in ("mlp", "cnn") for n in profiles.frontier_variants(arch, profile)}
        for chapter in ("deep_last_layer", "deep_all_layers"):
            expected |= set(profiles.chapter_variants(chapter, profile))
        assert frontier <= expected and not frontier & set(networks)
        assert set(networks) == expected - frontier
        for name in networks:
            source = profiles.transfer_source(name, profile)
            assert source.regularizer == "none" and not source.batchnorm and source.whiten_after is None
            assert source.arch == networks[name].arch


def test_a_second_trainer_of_the_same_checkpoint_waits_for_the_first(tmp_path: Path) -> None:
    """Two processes asking for one network must not resume the same checkpoint at once: the lock serialises them."""
    import threading
    import time

    from onen.runs.experiments import checkpoint_lock

    checkpoint = tmp_path / "ck" / "abc.pt"
    order: list[str] = []

    def second() -> None:
        with checkpoint_lock(checkpoint):
            order.append("second")

    with checkpoint_lock(checkpoint):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
        assert thread.is_alive()  # still waiting for the lock
    thread.join(timeout=5)
    assert order == ["first done", "second"]
    with checkpoint_lock(tmp_path / "ck" / "other.pt"):  # another network's lock is independent
        with checkpoint_lock(checkpoint):
            pass


@pytest.mark.parametrize("extra", [dict(regularizer="none"),
                                   dict(regularizer="spectral", tau=2, basis="tracked"),
                                   dict(regularizer="spectral", tau=2)])
def test_a_longer_run_extends_a_shorter_one_and_ends_where_straight_training_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict) -> None:
    """3 epochs after a 2-epoch run of the same configuration = 3 epochs straight (bitwise weights, same losses)."""
    import dataclasses

    import numpy as np
    import torch

    from onen.runs import experiments
    from onen.runs.training import train

    splits = {"train": synthetic_split(200, 0), "test": synthetic_split(60, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    three = TrainConfig(widths=[16], epochs=3, batch_size=50, lr=1e-2, beta=0.5, **extra)
    straight, h_straight = train(three, splits["train"], splits["test"], progress=False)

    two = dataclasses.replace(three, epochs=2)
    experiments.train_resumable(two, torch.device("cpu"), False, str(tmp_path))
    trained = []  # the epoch each training call starts from

    def spy(*a, **k):
        trained.append(torch.load(k["checkpoint"], weights_only=True)["epoch"] if k["checkpoint"].is_file() else 0)
        return train(*a, **k)

    monkeypatch.setattr(experiments, "train", spy)
    extended, h_extended, _ = experiments.train_resumable(three, torch.device("cpu"), False, str(tmp_path))
    assert trained == [2]  # it started from the 2-epoch checkpoint
    sa, sb = straight.state_dict(), extended.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert h_extended.loss == h_straight.loss and h_extended.test_accuracy == h_straight.test_accuracy
    np.testing.assert_allclose(h_extended.alphas, h_straight.alphas, rtol=1e-9)  # epoch 2: eigenvalues alone
    # the shorter run's own checkpoint is untouched, and one of another configuration is never taken
    assert torch.load(experiments.checkpoint_path(two), weights_only=True)["epoch"] == 2
    trained.clear()
    experiments.train_resumable(dataclasses.replace(three, lr=2e-2, epochs=4), torch.device("cpu"), False,
                                str(tmp_path))
    assert trained == [0]
    # the longest shorter run is the one taken: 4 epochs start from the 3-epoch run, not the 2-epoch one
    trained.clear()
    experiments.train_resumable(dataclasses.replace(three, epochs=4), torch.device("cpu"), False, str(tmp_path))
    assert trained == [3]


def test_extend_checkpoint_refuses_what_it_cannot_extend(tmp_path: Path) -> None:
    from onen.runs.training import extend_checkpoint, train

    config = TrainConfig(widths=[16], epochs=1, batch_size=50, lr=1e-2)
    checkpoint = tmp_path / "one.pt"
    train(config, synthetic_split(200, 0), progress=False, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="not a shorter run"):  # not fewer epochs
        extend_checkpoint(checkpoint, tmp_path / "x.pt", config)
    with pytest.raises(ValueError, match="not a shorter run"):  # another configuration
        extend_checkpoint(checkpoint, tmp_path / "x.pt", TrainConfig(widths=[16], epochs=2, batch_size=50, lr=2e-2))
    with pytest.raises(ValueError, match="recalibrates"):
        extend_checkpoint(checkpoint, tmp_path / "x.pt",
                          TrainConfig(widths=[16], epochs=2, batch_size=50, lr=1e-2, recalibrate=True))
    assert not (tmp_path / "x.pt").exists()
    extend_checkpoint(checkpoint, tmp_path / "x.pt", TrainConfig(widths=[16], epochs=2, batch_size=50, lr=1e-2))
    assert (tmp_path / "x.pt").is_file()


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_the_nearest_pair_differs_from_the_papers_nets_only_where_the_search_says(profile: str) -> None:
    """The pair at the search's point closest to 1/n is a Vanilla and a tracked SpecReg at the profile's
    ``nearest`` learning rate (and epochs), otherwise the profile's shallow net; in the paper profile the SpecReg is
    exactly the search's longer point at that setting and number of epochs (seed 0)."""
    vanilla, specreg = profiles.nearest_pair(profile)
    variants = profiles.shallow_variants(profile)
    near = profiles.profile_settings(profile).nearest
    base = dataclasses.asdict(variants["Vanilla"])
    for name, extra in ((vanilla, {}), (specreg, dict(regularizer="spectral", beta=near.beta, **profiles.TRACKED))):
        changed = {k: v for k, v in dataclasses.asdict(variants[name]).items() if base[k] != v}
        expected = {k: v for k, v in {"lr": near.lr, "epochs": near.epochs or base["epochs"], **extra}.items()
                    if base[k] != v}
        assert changed == expected, name
    if profile == "paper":
        longer = profiles.search_longer("paper")[f"lr={near.lr:.0e} β={near.beta:g}, {near.epochs} epochs"]
        assert variants[specreg] == longer


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_every_network_is_contrasted_with_a_vanilla_of_its_own_architecture_and_training(profile: str) -> None:
    networks = profiles.book_networks(profile)
    vanilla, specreg = profiles.nearest_pair(profile)
    for name, config in networks.items():
        reference = profiles.reference_network(name, profile)
        base = networks[reference]
        assert base.regularizer == "none" and base.whiten_after is None, (name, reference)
        assert reference.split(" ", 1)[0] == name.split(" ", 1)[0]
        assert (base.arch, base.widths, base.lr, base.epochs) == (config.arch, config.widths, config.lr, config.epochs)
        assert base.batchnorm == (config.batchnorm and config.regularizer != "none"), name
    assert profiles.reference_network(f"shallow {specreg}", profile) == f"shallow {vanilla}"
    assert profiles.reference_network("shallow SpecReg-BN β=1", profile) == "shallow Vanilla-BN"
    assert profiles.reference_network("MLP Jacobian", profile) == "MLP Vanilla"
    with pytest.raises(ValueError, match="no book network"):
        profiles.reference_network("shallow Nothing", profile)


def test_stored_seeds_lists_each_seed_found_or_missing_and_where_it_was_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from onen.runs import experiments

    splits = {"train": synthetic_split(200, 0), "test": synthetic_split(60, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    computed = TrainConfig(widths=[16], epochs=1, batch_size=50, lr=1e-2, seed=1)
    evaluation = EvalConfig(test_subset=40, eps_fgsm=[0.0], eps_pgd=[0.0], noise_sigmas=[0.0], pgd_steps=1,
                            spectrum_subset=40, sensitivity_indices=[0])
    result = run(computed, evaluation, str(tmp_path), device="cpu", progress=False)
    never = dataclasses.replace(computed, lr=2e-2)
    found, rows = experiments.stored_seeds({"A": computed, "B": never}, evaluation, [0, 1, 2], str(tmp_path))
    assert list(found) == ["A"] and len(found["A"]) == 1
    assert found["A"][0].provenance["config_hash"] == result.provenance["config_hash"]
    assert rows == [["A", "missing", "CPU", "missing"], ["B", "missing", "missing", "missing"]]
    # a result computed on a GPU is named so (its provenance device is "cuda" or "cuda:k")
    gpu = types.SimpleNamespace(provenance={"device": "cuda:0"})
    monkeypatch.setattr(experiments, "stored", lambda config, *_: gpu if config.seed == 2 else None)
    found, rows = experiments.stored_seeds({"A": computed}, evaluation, [0, 2], str(tmp_path))
    assert rows == [["A", "missing", "GPU"]] and found == {"A": [gpu]}
