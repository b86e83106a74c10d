"""The experiment runner's guards and the committed paper-profile results (no MNIST needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onen import profiles
from onen.cache import _load
from onen.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, EvalConfig, NotCached, checkpoint_dir, run
from onen.training import TrainConfig

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
    variant of section 4.1 (any seed of the profile), and carries its provenance."""
    entries = paper_entries()
    if not entries:
        pytest.skip("no paper-profile results committed")
    wanted = {}
    evaluation = profiles.evaluation("paper").to_dict()
    for name, config in profiles.shallow_variants("paper").items():
        for seed in profiles.seeds("paper"):
            cfg = TrainConfig.from_dict({**config.to_dict(), "seed": seed})
            wanted[json.dumps({"train": cfg.to_dict(), "eval": evaluation}, sort_keys=True)] = (name, seed)
    for json_path in entries:
        record = json.loads(json_path.read_text())
        loaded = _load(json_path.with_suffix(".npz"), json_path, record["config"])
        assert loaded is not None, json_path
        assert json.dumps(record["config"], sort_keys=True) in wanted, f"{json_path.name} is no section 4.1 variant"
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
    from onen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_the_command_line_writes_beside_the_package_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Started from another folder, the default results folder is still the repository's (here: cache-only, so the
    run stops at the first network missing there, naming that folder)."""
    from onen.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    with pytest.raises(NotCached, match=str(REPO / "results" / "quick")):
        main(["shallow", "--variants", "Whitened", "--device", "cpu", "--seeds", "987"])
    assert not any(tmp_path.iterdir())
