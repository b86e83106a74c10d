"""``python -m onen --workers N``: networks trained in parallel processes equal those trained in one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from onen.commands.cli import main
from onen.commands.launch import Job, run_jobs
from onen.runs.config import EvalConfig, TrainConfig
from onen.cache import lookup
from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, _run_key

TINY_EVAL = EvalConfig(test_subset=50, eps_fgsm=[0.0, 0.1], eps_pgd=[0.0, 0.1], noise_sigmas=[0.0, 0.3], pgd_steps=2,
                       spectrum_subset=200, sensitivity_indices=[0, 1], store_outcomes=True)


def tiny_jobs() -> list[Job]:
    base = TrainConfig(widths=[16], epochs=1, batch_size=100, lr=1e-2, train_subset=300, eigen_subset=300)
    configs = {"Vanilla": base, "SpecReg": TrainConfig(**{**base.to_dict(), "regularizer": "spectral", "tau": 2})}
    return [Job("shallow", name, seed, TrainConfig(**{**config.to_dict(), "seed": seed}), TINY_EVAL)
            for name, config in configs.items() for seed in (0, 1)]


def stored_arrays(job: Job, results_dir: Path) -> dict[str, np.ndarray]:
    result = lookup("runs", _run_key(job.config, job.evaluation), results_dir)
    assert result is not None, job.label
    return result.arrays


@pytest.mark.mnist
def test_workers_compute_exactly_what_one_process_computes(mnist_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tiny_jobs()
    for workers in (1, 2):
        monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / f"checkpoints{workers}"))  # no run reuses another's
        assert run_jobs(jobs, str(tmp_path / f"results{workers}"), "cpu", workers=workers, threads=1) == []
    lines = capsys.readouterr().out.splitlines()
    assert lookup("runs", _run_key(jobs[0].config, TINY_EVAL), tmp_path / "results2").provenance["torch_threads"] == 1
    assert len([line for line in lines if ": computed in " in line]) == 2 * len(jobs), lines
    for job in jobs:
        one, two = stored_arrays(job, tmp_path / "results1"), stored_arrays(job, tmp_path / "results2")
        assert one.keys() == two.keys()
        for key in one:
            np.testing.assert_array_equal(one[key], two[key], err_msg=f"{job.label}: {key}")
    # the networks differ from each other (the comparison above is not between constants)
    assert not np.array_equal(stored_arrays(jobs[0], tmp_path / "results1")["spectrum_0"],
                              stored_arrays(jobs[1], tmp_path / "results1")["spectrum_0"])


@pytest.mark.mnist
def test_a_failed_worker_is_named_and_the_others_finish(mnist_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    done, missing = tiny_jobs()[:2]
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    assert run_jobs([done], str(tmp_path), "cpu") == []
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")  # inherited by the workers: the network not in the cache fails there
    assert run_jobs([missing, done], str(tmp_path), "cpu", workers=2) == [missing.label]
    out = capsys.readouterr().out
    assert f"{missing.label}: FAILED" in out and "NotCached" in out and f"{done.label}: cached" in out


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["shallow", "--workers", "0"])
    assert exit_.value.code == 2 and "--workers must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at least 1"):
        run_jobs([], ".", "cpu", workers=0)
    with pytest.raises(ValueError, match="at least 1"):
        run_jobs([], ".", "cpu", threads=0)


def test_jobs_are_ordered_by_their_number_of_steps() -> None:
    from onen.commands.launch import start_order

    short, long_, medium, also_medium = (Job("shallow", name, 0, TrainConfig(epochs=e, batch_size=3500), TINY_EVAL)
                                         for name, e in (("s", 2), ("l", 50), ("m", 10), ("m2", 10)))
    assert (short.steps(), long_.steps()) == (2 * 18, 50 * 18)  # ceil(60000 / 3500) = 18 minibatches an epoch
    assert [j.name for j in start_order([short, medium, long_, also_medium])] == ["l", "m", "m2", "s"]


def test_control_jobs_audit_what_they_train_with_vanilla_of_the_same_seed_as_transfer_source() -> None:
    """The paper profile's control chapter: every shaped network and the listed section-4.1 networks carry the
    control audit and Vanilla of their own seed as the transfer source; the frontier's networks carry none; the quick
    profile audits nothing."""
    from onen.analysis import profiles
    from onen.commands.launch import Audit, chapter_jobs

    jobs = chapter_jobs(["control"], "paper", [1])
    audited = {job.name for job in jobs if job.after}
    assert audited == set(profiles.control_audited("paper"))
    assert {profiles.shaped_name(a) for a in (0.5, 1.0, 1.5, 2.0, 3.0)} <= audited
    for job in jobs:
        if job.after:
            source = dataclasses.replace(profiles.shallow_variants("paper")["Vanilla"], seed=1)
            assert job.after == (Audit(profiles.control_audit("paper"), source),) and job.step(Audit) == job.after[0]
        else:
            assert job.name.startswith("Vanilla, ") and job.config.epochs < 50 and job.step(Audit) is None
    assert all(not job.after for job in chapter_jobs(["control"], "quick", [0]))
