"""``python -m onen --launcher submitit`` and ``python -m onen status``: networks computed as submitit jobs (real
subprocesses of submitit's local executor) land in the results cache with the numbers a run in this process gives;
``status`` tells done, running, failed and missing networks apart; bad options end in one-line errors.

submitit is a dependency of the test install (the ``cluster`` extra), so a missing submitit fails here, not skips."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import submitit

from onen.cache import lookup
from onen.commands.cli import main
from onen.commands.launch import (Cluster, Job, chapter_jobs, job_key, make_executor, network_status, run_jobs,
                                  status_table, submit_jobs)
from onen.runs.config import EvalConfig, TrainConfig
from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, _run_key, checkpoint_lock, checkpoint_path

TINY_EVAL = EvalConfig(test_subset=50, eps_fgsm=[0.0, 0.1], eps_pgd=[0.0, 0.1], noise_sigmas=[0.0, 0.3], pgd_steps=2,
                       spectrum_subset=200, sensitivity_indices=[0, 1], store_outcomes=True)
TINY = TrainConfig(widths=[16], epochs=1, batch_size=100, lr=1e-2, train_subset=300, eigen_subset=300)


def tiny_job(name: str, seed: int) -> Job:
    config = TINY if name == "Vanilla" else dataclasses.replace(TINY, regularizer="spectral", tau=2)
    return Job("shallow", name, seed, dataclasses.replace(config, seed=seed), TINY_EVAL)


def arrays(job: Job, results_dir: Path) -> dict[str, np.ndarray]:
    result = lookup("runs", _run_key(job.config, job.evaluation), results_dir)
    assert result is not None, job.label
    return result.arrays


def local_cluster(folder: Path) -> Cluster:
    return Cluster(cluster="local", folder=folder, timeout_min=20)


@pytest.mark.mnist
def test_submitit_jobs_land_in_the_cache_with_the_numbers_of_a_run_in_this_process(
        mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = [tiny_job("Vanilla", 0), tiny_job("SpecReg", 0)]
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints-here"))
    assert run_jobs(jobs, str(tmp_path / "here"), "cpu", threads=1) == []
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints-jobs"))  # the jobs inherit it: nothing is reused
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the jobs' one thread is the launcher's doing
        monkeypatch.delenv(name, raising=False)
    logs = tmp_path / "logs"
    capsys.readouterr()
    assert submit_jobs(jobs, str(tmp_path / "jobs"), "cpu", local_cluster(logs), threads=1, poll_s=0.5) == []
    out = capsys.readouterr().out
    ids = re.findall(r"as job (\d+) \(local; logs in ", out)
    assert len(ids) == 2 and os.getpid() not in {int(i) for i in ids}, out  # local jobs: subprocesses, by pid
    assert len(re.findall(r": computed in ", out)) == 2, out
    for job in jobs:
        here, there = arrays(job, tmp_path / "here"), arrays(job, tmp_path / "jobs")
        assert here.keys() == there.keys()
        for key in here:
            np.testing.assert_array_equal(here[key], there[key], err_msg=f"{job.label}: {key}")
        provenance = lookup("runs", _run_key(job.config, TINY_EVAL), tmp_path / "jobs").provenance
        assert provenance["torch_threads"] == 1 and provenance["device"] == "cpu"
        # status's key is the name of the entry the job wrote
        assert (tmp_path / "jobs" / "runs" / f"{job_key(job)}.npz").is_file()
    assert not np.array_equal(arrays(jobs[0], tmp_path / "jobs")["spectrum_0"],
                              arrays(jobs[1], tmp_path / "jobs")["spectrum_0"])
    index = [json.loads(line) for line in (logs / "jobs.jsonl").read_text().splitlines()]
    assert sorted(r["job_id"] for r in index) == sorted(ids)
    assert {r["key"] for r in index} == {job_key(job) for job in jobs}
    assert [s.state for s in network_status(jobs, str(tmp_path / "jobs"), logs)] == ["done", "done"]
    # launched again, nothing is submitted: the cache has both
    assert submit_jobs(jobs, str(tmp_path / "jobs"), "cpu", local_cluster(logs), poll_s=0.5) == []
    again = capsys.readouterr().out
    assert "submitted" not in again and again.count(": cached") == 2


@pytest.mark.mnist
def test_status_tells_done_running_failed_and_missing_networks_apart(
        mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    done, running, failed, missing = (tiny_job("Vanilla", seed) for seed in range(4))
    results, logs = str(tmp_path / "results"), tmp_path / "logs"
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    assert run_jobs([done], results, "cpu", threads=1) == []
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")  # inherited by the job: the network not in the cache fails there
    assert submit_jobs([failed], results, "cpu", local_cluster(logs), threads=1, poll_s=0.5) == [failed.label]
    out = capsys.readouterr().out
    assert f"{failed.label}: FAILED (logs in {logs}" in out and "NotCached" in out
    with checkpoint_lock(checkpoint_path(running.config)):  # as a process training it holds it
        statuses = network_status([done, running, failed, missing], results, logs)
    assert [s.state for s in statuses] == ["done", "running", "failed", "missing"]
    (record,) = [json.loads(line) for line in (logs / "jobs.jsonl").read_text().splitlines()]
    assert statuses[2].detail == f"job {record['job_id']}: {record['folder']}"
    assert (Path(record["folder"]) / f"{record['job_id']}_0_log.err").read_text().count("NotCached") >= 1
    assert network_status([running], results, logs)[0].state == "missing"  # the lock released
    table = status_table(statuses).splitlines()
    assert table[-1] == "1 done, 1 running, 1 failed, 0 submitted, 1 missing (4 networks)"
    assert all(line.index(s.key) == table[0].index("key") for line, s in zip(table[1:], statuses))


def test_status_lists_every_network_of_a_chapter_in_an_aligned_table(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    main(["status", "shallow", "--profile", "quick", "--results-dir", str(tmp_path),
          "--submitit-folder", str(tmp_path / "logs")])
    lines = capsys.readouterr().out.splitlines()
    jobs = chapter_jobs(["shallow"], "quick")
    header, rows, summary = lines[1], lines[2:-1], lines[-1]
    assert header.split() == ["name", "seed", "key", "state", "detail"] and len(rows) == len(jobs)
    for row, job in zip(rows, jobs):
        assert row.startswith(job.name) and row[header.index("key"):].split()[:2] == [job_key(job), "missing"]
    assert summary == f"0 done, 0 running, 0 failed, 0 submitted, {len(jobs)} missing ({len(jobs)} networks)"


def test_the_command_line_passes_the_cluster_options_to_the_launcher(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr("onen.commands.cli.submit_jobs", lambda *args: calls.append(args) or [])
    main(["shallow", "--launcher", "submitit", "--cluster", "slurm", "--slurm-partition", "gpu", "--slurm-time", "30",
          "--gpus-per-node", "1", "--cpus-per-task", "4", "--submitit-folder", str(tmp_path), "--device", "cuda",
          "--results-dir", str(tmp_path / "results"), "--threads", "2"])
    ((jobs, results_dir, device, cluster, threads),) = calls
    assert jobs == chapter_jobs(["shallow"], "quick") and results_dir == str(tmp_path / "results")
    assert (device, threads) == ("cuda", 2)
    assert cluster == Cluster(cluster="slurm", folder=tmp_path, slurm_partition="gpu", timeout_min=30,
                              gpus_per_node=1, cpus_per_task=4)
    main(["shallow", "--launcher", "submitit", "--results-dir", str(tmp_path / "results")])
    assert calls[-1][3] == Cluster()  # submitit's own choice of cluster, 240 minutes


def test_the_sbatch_script_asks_for_the_partition_time_gpus_and_cpus(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With an ``srun`` on the PATH, submitit's SLURM executor writes the script it would submit: every option is
    there as SLURM reads it."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_ / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    executor = make_executor(Cluster(cluster="slurm", folder=tmp_path / "logs", slurm_partition="gpu",
                                     timeout_min=30, gpus_per_node=1, cpus_per_task=4))
    script = executor._executor._make_submission_file_text("python -m anything", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", f"#SBATCH --output={(tmp_path / 'logs').resolve()}/%j/%j_0_log.out"):
        assert line in script.splitlines(), script
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(bin_)))
    with pytest.raises(SystemExit, match="^error: submitit cannot launch here: .*--cluster local"):
        make_executor(Cluster(cluster="slurm", folder=tmp_path / "logs"))


@pytest.mark.parametrize("options, message", [
    (["--launcher", "submitit", "--slurm-time", "0"], "--slurm-time must be at least 1 minute, got 0"),
    (["--launcher", "submitit", "--gpus-per-node", "-1"], "--gpus-per-node must be 0 or more, got -1"),
    (["--launcher", "submitit", "--cpus-per-task", "0"], "--cpus-per-task must be at least 1, got 0"),
    (["--launcher", "submitit", "--slurm-partition", " "], "--slurm-partition must not be empty"),
    (["--launcher", "submitit", "--workers", "2"],
     "--workers applies to --launcher local; with submitit every network is its own job"),
    (["--launcher", "submitit", "--device", "cuda"],
     "--device cuda needs --gpus-per-node 1 or more: a job sees only the GPUs it asks for"),
    (["--launcher", "submitit", "--device", "mps"], "device 'mps' is not supported: use auto, cpu, cuda or cuda:N"),
    (["--launcher", "submitit", "--device", "gpu"], "unknown device 'gpu': use auto, cpu, cuda or cuda:N"),
    (["--slurm-partition", "gpu", "--slurm-time", "5"], "--slurm-partition, --slurm-time needs --launcher submitit"),
    (["--launcher", "submitit", "--cluster", "pbs"], "argument --cluster: invalid choice: 'pbs'"),
])
def test_bad_launcher_options_end_in_one_line_errors(options: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["shallow", "--results-dir", str(tmp_path), *options])
    err = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and err[-1].startswith(f"python -m onen: error: {message}"), err


def test_a_missing_submitit_names_the_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    monkeypatch.setattr("onen.commands.cli.submit_jobs", lambda *args: pytest.fail("nothing may be launched"))
    with pytest.raises(SystemExit) as exit_:
        main(["shallow", "--launcher", "submitit", "--cluster", "local", "--results-dir", str(tmp_path)])
    assert str(exit_.value.code) == "error: --launcher submitit needs submitit: pip install -e '.[cluster]'"


def test_submitit_is_the_version_the_cluster_extra_pins() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"submitit=={submitit.__version__}" in project["project"]["optional-dependencies"]["cluster"]
