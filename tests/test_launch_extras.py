"""``python -m onen cifar`` and ``python -m onen corruptions``: their jobs list the chapters' networks with the
chapters' evaluation, audit and corruption settings; the cache entries the jobs write are those the chapters read,
keyed through the chapters' own calls (``cached`` replaced by a recorder, so nothing trains); a tiny network run
through :func:`onen.commands.launch.compute` writes its run, audit and corruption entries, and a second run loads
them all."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from onen.analysis import cifar_report, claims, profiles
from onen.cache import config_hash
from onen.cifar import default_source
from onen.commands.cli import main
from onen.commands.launch import (TRAINING_CHAPTERS, Audit, Corruptions, Job, chapter_jobs, compute, is_done,
                                  job_entries, network_status, status_main)
from onen.robustness import audit as audit_module
from onen.robustness import cifar_c, mnist_c_eval
from onen.robustness.audit import AuditConfig, audit_run
from onen.robustness.cifar_c import CifarCorruptionConfig
from onen.robustness.mnist_c_eval import CorruptionConfig, corruption_run
from onen.runs import experiments
from onen.runs.config import EvalConfig, TrainConfig
from onen.runs.experiments import CHECKPOINTS_ENV, run_seeds

BOOK = Path(__file__).resolve().parents[1] / "book"
Entries = set[tuple[str, str]]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Entries:
    """Every (folder, key) that ``cached`` is asked for by a run, an audit or a corruption scoring; nothing computes."""
    entries: Entries = set()

    def record(name: str, config: dict[str, Any], compute: Callable[[], Any], results_dir: str, **_: Any) -> str:
        entries.add((name, config_hash(config)))
        return name

    for module in (experiments, audit_module, cifar_c, mnist_c_eval):
        monkeypatch.setattr(module, "cached", record)
    return entries


def entries_of(jobs: list[Job], folder: str | None = None) -> Entries:
    return {entry for job in jobs for entry in job_entries(job) if folder is None or entry[0] == folder}


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_cifar_jobs_are_the_frontier_then_the_variants_with_the_chapters_settings(profile: str) -> None:
    jobs = chapter_jobs(["cifar"], profile)
    seeds = profiles.seeds(profile)
    early, variants = profiles.frontier_variants("cifar", profile), profiles.cifar_variants(profile)
    assert [(job.name, job.seed) for job in jobs] == [(n, s) for n in [*early, *variants] for s in seeds]
    scored = (Audit(profiles.cifar_audit(profile)), Corruptions(profiles.cifar_corruption_config(profile)))
    for job in jobs:
        assert job.chapter == "cifar" and job.evaluation == profiles.cifar_evaluation(profile)
        assert job.config == dataclasses.replace({**early, **variants}[job.name], seed=job.seed)
        assert job.after == (() if job.name in early else scored)
        assert job.step(Audit) is None or job.step(Audit).transfer_source is None  # the chapter has no transfer attack
    assert pickle.loads(pickle.dumps(jobs)) == jobs  # as workers and submitit jobs receive them


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_cifar_jobs_write_exactly_the_entries_the_chapter_reads(profile: str, recorded: Entries,
                                                               tmp_path: Path) -> None:
    source = (BOOK / "cifar.py").read_text(encoding="utf-8")
    calls = ["cifar_report.frontier_runs(profile, evaluation, seeds, results_dir, device)",
             "run_seeds(config, evaluation, seeds, results_dir, device, progress=False)",
             "cifar_report.audit_runs(variants, audit, seeds, results_dir, device)",
             "cifar_report.corruption_runs(variants, corruption, seeds, results_dir, device)"]
    assert all(call in source for call in calls)  # the calls below are the chapter's
    setup = profiles.chapter_setup(profile, tmp_path, None, "cpu")
    results_dir, seeds, device = setup.results_dir, setup.seeds, setup.device
    variants, evaluation = profiles.cifar_variants(profile), profiles.cifar_evaluation(profile)
    audit, corruption = profiles.cifar_audit(profile), profiles.cifar_corruption_config(profile)
    cifar_report.frontier_runs(profile, evaluation, seeds, results_dir, device)
    for config in variants.values():
        run_seeds(config, evaluation, seeds, results_dir, device, progress=False)
    cifar_report.audit_runs(variants, audit, seeds, results_dir, device)
    cifar_report.corruption_runs(variants, corruption, seeds, results_dir, device)
    jobs = chapter_jobs(["cifar"], profile)
    assert entries_of(jobs) == recorded
    assert {folder for folder, _ in recorded} == {"runs", "audit", "cifar_corruptions"}


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_corruption_jobs_score_exactly_what_the_chapter_reads_in_the_jobs_that_train_the_networks(
        profile: str, recorded: Entries, tmp_path: Path) -> None:
    source = (BOOK / "corruptions.py").read_text(encoding="utf-8")
    assert "networks = profiles.book_networks(profile)" in source and "setting = profiles.corruption_config" in source
    assert "profiles.frontier_variants(arch, profile) for arch, prefix in claims.PREFIXES.items()" in source
    setup = profiles.chapter_setup(profile, tmp_path, None, "cpu")
    setting = profiles.corruption_config(profile)
    early = [c for arch in claims.PREFIXES for c in profiles.frontier_variants(arch, profile).values()]
    for config in [*profiles.book_networks(profile).values(), *early]:
        for seed in setup.seeds:
            corruption_run(dataclasses.replace(config, seed=seed), setting, setup.results_dir, setup.device,
                           progress=False)
    jobs = chapter_jobs(["corruptions"], profile)
    assert entries_of(jobs, "corruptions") == recorded
    assert all(job.step(Corruptions) == job.after[-1] == Corruptions(setting) for job in jobs)
    # the rest of each job is the job of the chapter that trains the network: the same run and audit entries
    trained = chapter_jobs(list(TRAINING_CHAPTERS), profile)
    assert entries_of(jobs) - recorded <= entries_of(trained)
    assert len({job_entries(job)[0] for job in jobs}) == len(jobs)  # one job per network


def test_audit_entries_are_the_keys_audit_run_uses(recorded: Entries, tmp_path: Path) -> None:
    """The control chapter's audits, with a transfer source (dropped by audit_run where it is the network itself)."""
    for job in chapter_jobs(["control"], "paper", [1]):
        step = job.step(Audit)
        if step is None:
            continue
        assert isinstance(step, Audit)
        recorded.clear()
        audit_run(job.config, step.config, str(tmp_path), "cpu", transfer_source=step.transfer_source)
        assert recorded == {job_entries(job)[1]}


def test_the_corruptions_chapter_folds_into_the_jobs_of_the_chapters_listed_beside_it() -> None:
    shallow = chapter_jobs(["shallow"], "quick")
    alone = chapter_jobs(["corruptions"], "quick")
    for chapters in (["shallow", "corruptions"], ["corruptions", "shallow"]):
        both = chapter_jobs(chapters, "quick")
        assert entries_of(both) == entries_of(shallow) | entries_of(alone)
        assert len(both) == len(shallow) + sum(not j.name.startswith("shallow ") or ", " in j.name for j in alone)
        assert all(job.step(Corruptions) is not None for job in both if job.chapter == "shallow")
        left = {job.name for job in both if job.chapter == "corruptions"}
        assert not left & {f"shallow {name}" for name in profiles.shallow_variants("quick")}


def test_each_corruption_selection_is_scored_and_cached_by_its_own_family() -> None:
    config = TrainConfig(widths=[16])
    assert Corruptions(CorruptionConfig()).entry(config) == ("corruptions", {"train": config.to_dict(),
                                                                             "corruptions": CorruptionConfig().to_dict()})
    assert Corruptions(CifarCorruptionConfig()).entry(config)[0] == "cifar_corruptions"
    with pytest.raises(TypeError, match="config must be one of CorruptionConfig, CifarCorruptionConfig, got dict"):
        Corruptions({})  # type: ignore[arg-type]


def test_unknown_chapters_end_in_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="unknown chapter 'cifr': the chapters with networks are .*cifar"):
        chapter_jobs(["cifr"], "quick")
    for command in (["cifr"], ["status", "cifr"]):
        with pytest.raises(SystemExit) as exit_:
            main(command)
        assert exit_.value.code == 2 and "invalid choice: 'cifr'" in capsys.readouterr().err


def test_status_lists_the_cifar_and_corruptions_chapters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status_main(["cifar", "corruptions", "--results-dir", str(tmp_path), "--submitit-folder", str(tmp_path)])
    out = capsys.readouterr().out
    jobs = chapter_jobs(["cifar", "corruptions"], "quick")
    assert f"0 done, 0 running, 0 failed, 0 submitted, {len(jobs)} missing ({len(jobs)} networks)" in out
    assert "SpecReg (all)" in out and "CNN Vanilla, 1 epoch" in out


def check_end_to_end(job: Job, results_dir: Path) -> None:
    """``compute`` writes every entry of ``job``; a second ``compute`` loads them; ``is_done`` is False and ``status``
    names the step while an after-training entry is missing, and computing again writes only that one."""
    assert not is_done(job, str(results_dir))
    seconds, fresh = compute(job, str(results_dir), "cpu", progress=False)
    assert fresh
    files = [results_dir / folder / f"{key}.npz" for folder, key in job_entries(job)]
    assert all(path.is_file() for path in files) and is_done(job, str(results_dir))
    written = {path: path.stat().st_mtime_ns for path in files}
    assert compute(job, str(results_dir), "cpu", progress=False)[1] is False  # a cache hit
    assert {path: path.stat().st_mtime_ns for path in files} == written
    for index, step in enumerate(job.after, 1):
        for path in (files[index], files[index].with_suffix(".json")):
            path.unlink()
        assert not is_done(job, str(results_dir))
        [status] = network_status([job], str(results_dir), results_dir / "submitit")
        assert status.state == "missing" and status.detail == f"run cached; missing {step.label}"
        assert compute(job, str(results_dir), "cpu", progress=False)[1] is True
        assert files[index].is_file() and is_done(job, str(results_dir))
        assert all(path.stat().st_mtime_ns == written[path] for path in files if path != files[index])
        written[files[index]] = files[index].stat().st_mtime_ns


@pytest.mark.mnist
def test_a_tiny_corruptions_job_writes_its_run_and_corruption_entries_then_loads_them(
        mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    [job] = chapter_jobs(["corruptions"], "quick", variants=["shallow Vanilla"])
    assert job.after == (Corruptions(profiles.corruption_config("quick")),)
    tiny = Job(job.chapter, job.name, 0, TrainConfig(widths=[16], epochs=1, batch_size=100, lr=1e-2, train_subset=300),
               EvalConfig(test_subset=50, eps_fgsm=[0.0, 0.1], eps_pgd=[0.0, 0.1], noise_sigmas=[0.0], pgd_steps=2,
                          spectrum_subset=200, sensitivity_indices=[0], store_outcomes=True),
               (Corruptions(CorruptionConfig(test_subset=40, corruptions=("gaussian_noise", "rotate"))),))
    check_end_to_end(tiny, tmp_path / "results")


def test_a_tiny_cifar_job_writes_its_run_audit_and_corruption_entries_then_loads_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    try:
        experiments.dataset("cifar10", "test", "cpu", source=default_source())
    except (FileNotFoundError, OSError) as err:
        pytest.skip(f"CIFAR-10 is not under the data root: {err}")
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    job = next(job for job in chapter_jobs(["cifar"], "quick") if job.name == "Vanilla")
    assert [type(step) for step in job.after] == [Audit, Corruptions]
    config = TrainConfig(arch="cifar_cnn", dataset="cifar10", activation="tanh", cifar_source=default_source(),
                         channels=[2, 2, 2], epochs=1, batch_size=100, train_subset=200, fit_ranks=(1, 2))
    evaluation = EvalConfig(test_subset=30, eps_fgsm=[0.0, 2 / 255], eps_pgd=[0.0, 2 / 255], noise_sigmas=[0.0],
                            pgd_steps=1, spectrum_subset=30, sensitivity_indices=[0], store_outcomes=True)
    audit = AuditConfig(n_images=20, eps=(0.0, 4 / 255), attacks=("pgd", "square"), pgd_steps=2,
                        pgd_step_size=1 / 255, restarts=1, square_queries=5, batch_size=20)
    scoring = CifarCorruptionConfig(test_subset=30, severities=(3,), corruptions=("gaussian_noise", "contrast"))
    tiny = dataclasses.replace(job, config=config, evaluation=evaluation,
                               after=(Audit(audit), Corruptions(scoring)))
    check_end_to_end(tiny, tmp_path / "results")
