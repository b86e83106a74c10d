"""Where a chapter's networks are computed, and how far they have got.

Every network of a chapter is one :class:`Job`: :func:`chapter_jobs` lists them, :func:`compute` trains (or loads) and
evaluates one into the content-addressed results cache, then runs its after-training steps (:class:`AfterTraining`:
the attack audit, :class:`Audit`; the scoring on corrupted test images, :class:`Corruptions`). Checkpoints never move
between machines, so whatever a chapter reads from a network's weights is computed in the job that trains it, right
after training, and each step has its own cache entry. Two launchers run them:

- local (:func:`run_jobs`): in this process, in order, or ``workers`` at once in spawned processes, longest first;
- submitit (:func:`submit_jobs`): one submitit job per network, on SLURM or as local subprocesses
  (``cluster="local"``). Each job writes its cache entry; the launcher waits for the jobs and reports each as it ends.
  The cache is where they meet: a network already cached is not submitted, and one trained elsewhere at the same time
  is waited for on its checkpoint lock (:func:`onen.runs.experiments.checkpoint_lock`).

:func:`network_status` says, for every network of a chapter, whether it is done (a valid cache entry), running (its
checkpoint lock is held), failed (its last submitit job ended in an error; its log folder is named), submitted (a
submitit job with no result yet: queued, evaluating, or lost) or missing; ``python -m onen status`` prints it.

Besides the chapters of :func:`onen.analysis.profiles.chapter_variants`, the baselines and the search, two chapters
are listed here:

- ``cifar`` (:func:`cifar_networks`): the CIFAR-10 chapter's networks, Vanilla stopped early (its frontier) and then
  each variant, with the chapter's evaluation; each variant is audited and scored on the corrupted CIFAR-10 test
  images in its own job;
- ``corruptions`` (:func:`corruption_networks`): every network the common-corruptions chapter scores, each as the job
  of the chapter that trains it (its evaluation and audit) with the MNIST-C scoring added. Listed beside that chapter,
  the scoring joins that chapter's job of the same network instead (:func:`chapter_jobs`): one job per network, so
  the weights are trained once and scored while they exist.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import math
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from onen.analysis import profiles
from onen.cache import config_hash, lookup
from onen.robustness.audit import AuditConfig, _audit_key, audit_run
from onen.robustness.cifar_c import CifarCorruptionConfig
from onen.robustness.cifar_c import corruption_run as cifar_corruption_run
from onen.robustness.mnist_c_eval import CorruptionConfig
from onen.robustness.mnist_c_eval import corruption_run as mnist_corruption_run
from onen.robustness.selection import CorruptionSelection
from onen.runs import search
from onen.runs.config import CIFAR_DATASET, EvalConfig, TrainConfig
from onen.runs.experiments import _run_key, checkpoint_path, interactive, run, stored


class AfterTraining:
    """A computation on a job's network that needs its weights, run by :func:`compute` in the job that trains the
    network, right after training (checkpoints do not move between machines), with its own cache entry: :meth:`entry`
    names it, :meth:`stored` looks for it without computing, :meth:`compute` loads the network's checkpoint and
    computes it (or loads it from the cache)."""

    @property
    def label(self) -> str:
        """How ``status`` names this step where its entry is missing."""
        raise NotImplementedError

    def entry(self, config: TrainConfig) -> tuple[str, dict[str, Any]]:
        """The cache entry of this step for the network ``config``: its folder under the results folder and its key
        (the entry is ``<folder>/<config_hash(key)>.npz``)."""
        raise NotImplementedError

    def compute(self, config: TrainConfig, results_dir: str, device: str, progress: bool | None) -> None:
        """Compute (or load) this step's entry for the network ``config``."""
        raise NotImplementedError

    def at_seed(self, seed: int) -> AfterTraining:
        """This step for the network trained with ``seed`` (the same, unless it names another network)."""
        return self

    def stored(self, config: TrainConfig, results_dir: str) -> bool:
        """Whether the cache holds a valid entry of this step for ``config``; never trains or computes."""
        return lookup(*self.entry(config), results_dir) is not None


@dataclasses.dataclass(frozen=True)
class Audit(AfterTraining):
    """The attack audit (:func:`onen.robustness.audit.audit_run`) with ``config``, and the network whose PGD examples
    its transfer attack tries (None: no transfer attack); the source is trained at the audited network's seed."""

    config: AuditConfig
    transfer_source: TrainConfig | None = None

    @property
    def label(self) -> str:
        return "audit"

    def entry(self, config: TrainConfig) -> tuple[str, dict[str, Any]]:
        source = self.transfer_source  # audit_run drops a source that is the audited network itself
        same = source is None or source.to_dict() == config.to_dict()
        return "audit", _audit_key(config, self.config, None if same else source)

    def compute(self, config: TrainConfig, results_dir: str, device: str, progress: bool | None) -> None:
        audit_run(config, self.config, results_dir, device, transfer_source=self.transfer_source, progress=progress)

    def at_seed(self, seed: int) -> Audit:
        if self.transfer_source is None:
            return self
        return dataclasses.replace(self, transfer_source=dataclasses.replace(self.transfer_source, seed=seed))


class CorruptionFamily(NamedTuple):
    """How one family of corrupted test images is scored: ``score`` (``corruption_run`` of its module), cached
    under ``folder`` with the selection's half of the key named ``selection``; ``label`` names it in ``status``."""

    label: str
    folder: str
    selection: str
    score: Callable[..., Any]


# by the type of the selection: MNIST-C-style corruptions (the corruptions chapter), CIFAR-10's (the CIFAR chapter)
CORRUPTION_FAMILIES: dict[type[CorruptionSelection], CorruptionFamily] = {
    CorruptionConfig: CorruptionFamily("corruptions", "corruptions", "corruptions", mnist_corruption_run),
    CifarCorruptionConfig: CorruptionFamily("CIFAR-10 corruptions", "cifar_corruptions", "corruption",
                                            cifar_corruption_run),
}


@dataclasses.dataclass(frozen=True)
class Corruptions(AfterTraining):
    """The scoring on corrupted test images selected by ``config``: MNIST-C-style ones for a
    :class:`onen.robustness.mnist_c_eval.CorruptionConfig` (:func:`onen.robustness.mnist_c_eval.corruption_run`),
    CIFAR-10's for a :class:`onen.robustness.cifar_c.CifarCorruptionConfig`
    (:func:`onen.robustness.cifar_c.corruption_run`)."""

    config: CorruptionConfig | CifarCorruptionConfig

    def __post_init__(self) -> None:
        if type(self.config) not in CORRUPTION_FAMILIES:
            raise TypeError(f"config must be one of {', '.join(t.__name__ for t in CORRUPTION_FAMILIES)}, got "
                            f"{type(self.config).__name__}")

    @property
    def family(self) -> CorruptionFamily:
        """How this selection's family is scored and cached."""
        return CORRUPTION_FAMILIES[type(self.config)]

    @property
    def label(self) -> str:
        return self.family.label

    def entry(self, config: TrainConfig) -> tuple[str, dict[str, Any]]:
        return self.family.folder, {"train": config.to_dict(), self.family.selection: self.config.to_dict()}

    def compute(self, config: TrainConfig, results_dir: str, device: str, progress: bool | None) -> None:
        self.family.score(config, self.config, results_dir, device, progress)


@dataclasses.dataclass(frozen=True)
class Job:
    """One network of one chapter: what :func:`compute` trains (or loads) and evaluates, and the steps it runs on the
    trained network (:class:`AfterTraining`), in order, while its weights exist."""

    chapter: str
    name: str
    seed: int
    config: TrainConfig  # already carrying ``seed``
    evaluation: EvalConfig | int | None  # for the search: the number of test images its spectrum uses (None: all)
    after: tuple[AfterTraining, ...] = ()  # each already at ``seed`` (AfterTraining.at_seed)

    @property
    def label(self) -> str:
        return f"{self.chapter} {self.name} seed {self.seed}"

    def steps(self) -> float:
        """Epochs times minibatches per epoch: the order in which ``--workers`` starts networks (largest first)."""
        images = self.config.train_subset or (50000 if self.config.dataset == CIFAR_DATASET else 60000)
        return self.config.epochs * math.ceil(images / self.config.batch_size)

    def step(self, kind: type[AfterTraining]) -> AfterTraining | None:
        """The first after-training step of type ``kind``, or None where the job has none."""
        return next((step for step in self.after if isinstance(step, kind)), None)


def compute(job: Job, results_dir: str, device: str, progress: bool | None = None) -> tuple[float, bool]:
    """Train (or load) and evaluate ``job``, then run its after-training steps in order; returns its wall time and
    whether anything was computed rather than loaded."""
    start = time.perf_counter()
    fresh = not is_done(job, results_dir)
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        search.search_point(job.config, job.evaluation, results_dir, device, progress)
    else:
        assert isinstance(job.evaluation, EvalConfig), job.label
        run(job.config, job.evaluation, results_dir, device, progress)
    for step in job.after:
        step.compute(job.config, results_dir, device, progress)
    return time.perf_counter() - start, fresh


def run_stored(job: Job, results_dir: str) -> bool:
    """Whether the cache holds a valid entry of ``job``'s own run (its search point, or its evaluated network)."""
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        return search.stored_point(job.config, job.evaluation, results_dir) is not None
    assert isinstance(job.evaluation, EvalConfig), job.label
    return stored(job.config, job.evaluation, results_dir) is not None


def missing_steps(job: Job, results_dir: str) -> list[AfterTraining]:
    """The after-training steps of ``job`` whose entries the cache lacks; never trains."""
    return [step for step in job.after if not step.stored(job.config, results_dir)]


def is_done(job: Job, results_dir: str) -> bool:
    """Whether the cache holds a valid entry of ``job`` and of each of its after-training steps; never trains."""
    return run_stored(job, results_dir) and not missing_steps(job, results_dir)


def job_entries(job: Job) -> list[tuple[str, str]]:
    """Every cache entry ``job`` writes, as (folder, key): its run's (:func:`job_key`), then each after-training
    step's, in order."""
    run_entry = ("regularizer_search" if job.chapter == "search" else "runs", job_key(job))
    return [run_entry, *((folder, config_hash(key)) for folder, key in (s.entry(job.config) for s in job.after))]


def _worker_init(threads: int, log: bool) -> None:
    import torch

    torch.set_num_threads(threads)
    if log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


def _worker(job: Job, results_dir: str, device: str) -> tuple[float, bool]:
    return compute(job, results_dir, device, progress=False)  # several bars from several processes would garble


def _report(index: int, total: int, job: Job, seconds: float, fresh: bool, began: float, eta_s: float | None) -> None:
    eta = f" ETA {eta_s / 60:.0f} min" if eta_s is not None else ""
    print(f"[{index}/{total}] {job.label}: {'computed' if fresh else 'cached'} in {seconds:.0f} s; elapsed "
          f"{(time.perf_counter() - began) / 60:.1f} min{eta}", flush=True)


def start_order(jobs: Sequence[Job]) -> list[Job]:
    """The order in which several workers start ``jobs``: most steps first (:meth:`Job.steps`), equal sizes in
    their given order, so that the last network to finish is a short one."""
    return sorted(jobs, key=lambda job: -job.steps())


def run_jobs(jobs: Sequence[Job], results_dir: str, device: str, workers: int = 1,
             threads: int | None = None) -> list[str]:
    """Compute ``jobs``; returns the labels of those that failed (always empty with one worker, which raises).

    One worker runs them in order in this process. More start them longest first in ``workers`` spawned processes.
    ``threads``: CPU threads of each process (None: this process's own with one worker, else
    ``os.cpu_count() // workers``, at least one). On a CPU the thread count changes the order of floating-point sums,
    so a network trained with 1 thread and with 2 differs in the last bits; with equal thread counts, results are
    bitwise equal whatever the number of workers."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    began = time.perf_counter()
    computed_seconds, computed = 0.0, 0
    if workers == 1:
        import torch

        own = torch.get_num_threads()
        torch.set_num_threads(threads or own)
        try:
            for index, job in enumerate(jobs, 1):
                seconds, fresh = compute(job, results_dir, device)
                if fresh:
                    computed_seconds, computed = computed_seconds + seconds, computed + 1
                left = len(jobs) - index
                _report(index, len(jobs), job, seconds, fresh, began,
                        left * computed_seconds / computed if computed and left else None)
        finally:
            torch.set_num_threads(own)
        return []
    ordered = start_order(jobs)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    failed: list[str] = []
    context = multiprocessing.get_context("spawn")  # fork would copy this process's torch (and CUDA) state
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                                  initargs=(threads, not interactive()))
    try:
        pending = {pool.submit(_worker, job, results_dir, device): job for job in ordered}
        for index, future in enumerate(concurrent.futures.as_completed(pending), 1):
            job = pending[future]
            try:
                seconds, fresh = future.result()
            except Exception as error:  # report it and let the other networks finish
                failed.append(job.label)
                detail = "".join(traceback.format_exception(error))
                print(f"[{index}/{len(jobs)}] {job.label}: FAILED\n{detail}", flush=True)
                continue
            if fresh:
                computed_seconds, computed = computed_seconds + seconds, computed + 1
            left = len(jobs) - index
            eta = left * computed_seconds / computed / min(workers, left) if computed and left else None
            _report(index, len(jobs), job, seconds, fresh, began, eta)
    finally:  # on an interrupt, start nothing more (the running networks keep their per-epoch checkpoints)
        pool.shutdown(wait=True, cancel_futures=True)
    return failed


def baseline_jobs(profile: str, seeds: Sequence[int] | None = None, variants: Sequence[str] | None = None,
                  seed_major: bool = False) -> tuple[list[Job], set[str]]:
    """The baselines chapter's networks (:func:`onen.analysis.profiles.baseline_variants`), each group at its seeds
    (:func:`onen.analysis.profiles.baseline_seeds`; ``seeds`` None: the profile's), evaluated as the chapter does;
    only the ``variants`` named, if any. Seeds inner, or outer with ``seed_major``. Returns the jobs and every
    variant name the chapter has."""
    evaluation = profiles.baseline_evaluation(profile)
    jobs, known = [], set()
    for group, nets in profiles.baseline_variants(profile).items():
        known.update(nets)
        jobs += [Job("baselines", name, seed, dataclasses.replace(config, seed=seed), evaluation)
                 for name, config in nets.items() if not variants or name in variants
                 for seed in profiles.baseline_seeds(profile, group, seeds)]
    return (sorted(jobs, key=lambda job: job.seed) if seed_major else jobs), known


Network = tuple[TrainConfig, EvalConfig | int | None, tuple[AfterTraining, ...]]  # at no particular seed

# the chapters whose networks python -m onen computes (the mechanics chapters and the calibration are computed apart)
NETWORK_CHAPTERS = (*sorted(profiles.CHAPTER_VARIANTS), "baselines", "cifar", "corruptions", "search")
# the chapters that train the networks the corruptions chapter scores, in the order their jobs are looked in
TRAINING_CHAPTERS = ("shallow", "deep_last_layer", "deep_all_layers", "control")


def _trained(config: TrainConfig) -> str:
    """What identifies the trained weights of ``config`` (its checkpoint's key)."""
    return config_hash({"train": config.to_dict()})


def cifar_networks(profile: str) -> dict[str, Network]:
    """The CIFAR-10 chapter's networks (``book/cifar.py``, :mod:`onen.analysis.cifar_report`) by display name: Vanilla
    stopped after each frontier epoch (:func:`onen.analysis.profiles.frontier_variants` with "cifar"), listed first so
    that each resumes the checkpoint of the one before and the full-length Vanilla that of the longest, then each
    variant of :func:`onen.analysis.profiles.cifar_variants`; all with the chapter's evaluation. Each variant is
    audited (:func:`onen.analysis.profiles.cifar_audit`, no transfer attack) and scored on the corrupted test images
    (:func:`onen.analysis.profiles.cifar_corruption_config`) in its own job."""
    evaluation = profiles.cifar_evaluation(profile)
    scored = (Audit(profiles.cifar_audit(profile)), Corruptions(profiles.cifar_corruption_config(profile)))
    early = {name: (config, evaluation, ()) for name, config in profiles.frontier_variants("cifar", profile).items()}
    variants = {name: (config, evaluation, scored) for name, config in profiles.cifar_variants(profile).items()}
    return {**early, **variants}


def corruption_networks(profile: str) -> dict[str, Network]:
    """The networks the common-corruptions chapter (``book/corruptions.py``) scores, by its names
    (:func:`onen.analysis.profiles.corruption_networks`): each is the network of the first of
    :data:`TRAINING_CHAPTERS` that trains it, with that chapter's evaluation and after-training steps, and the scoring
    on MNIST-C-style corrupted test images (:func:`onen.analysis.profiles.corruption_config`) last. So a corruptions
    job trains (or loads) the network, computes everything its own chapter reads from it, and scores it: one job per
    network. ValueError where no chapter trains one of them."""
    owners: dict[str, tuple[EvalConfig | int | None, tuple[AfterTraining, ...]]] = {}
    for chapter in TRAINING_CHAPTERS:
        for config, evaluation, after in chapter_networks(chapter, profile).values():
            owners.setdefault(_trained(config), (evaluation, after))
    scoring = Corruptions(profiles.corruption_config(profile))
    networks: dict[str, Network] = {}
    for name, config in profiles.corruption_networks(profile).items():
        if _trained(config) not in owners:
            raise ValueError(f"no chapter of {', '.join(TRAINING_CHAPTERS)} trains the corruptions chapter's {name!r}")
        evaluation, after = owners[_trained(config)]
        networks[name] = (config, evaluation, (*after, scoring))
    return networks


def chapter_networks(chapter: str, profile: str) -> dict[str, Network]:
    """Every network of ``chapter`` (any of :data:`NETWORK_CHAPTERS` but the baselines, which have seeds of their own,
    :func:`baseline_jobs`) by display name: its configuration, evaluation (the search: the number of test images its
    spectrum uses) and after-training steps. The control chapter audits the networks of
    :func:`onen.analysis.profiles.control_audited`, with Vanilla's PGD examples as the transfer attack. ValueError
    naming the chapters for an unknown one."""
    if chapter == "search":
        points, spectrum_images = profiles.search_grid(profile)
        points.update(profiles.search_longer(profile))  # after the grid: they extend its checkpoints
        return {name: (config, spectrum_images, ()) for name, config in points.items()}
    if chapter == "cifar":
        return cifar_networks(profile)
    if chapter == "corruptions":
        return corruption_networks(profile)
    if chapter not in profiles.CHAPTER_VARIANTS:
        raise ValueError(f"unknown chapter {chapter!r}: the chapters with networks are {', '.join(NETWORK_CHAPTERS)}")
    audited = profiles.control_audited(profile) if chapter == "control" else {}
    audit: tuple[AfterTraining, ...] = ()
    if audited:
        audit = (Audit(profiles.control_audit(profile), profiles.transfer_source("shallow Vanilla", profile)),)
    return {name: (config, evaluation, audit if name in audited else ())
            for name, (config, evaluation) in profiles.chapter_variants(chapter, profile).items()}


def fold_corruptions(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` where each job of the corruptions chapter whose network another listed chapter also trains is folded
    into the first such job (its after-training steps, the scoring among them, appended where that job lacks them),
    so that the network is trained once and scored in the job that trains it. The search's points, evaluated
    otherwise, take none."""
    owners: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if job.chapter not in ("corruptions", "search"):
            owners.setdefault(_trained(job.config), index)
    merged, folded = list(jobs), set()
    for index, job in enumerate(jobs):
        owner = owners.get(_trained(job.config)) if job.chapter == "corruptions" else None
        if owner is not None:
            added = tuple(step for step in job.after if step not in merged[owner].after)
            merged[owner] = dataclasses.replace(merged[owner], after=merged[owner].after + added)
            folded.add(index)
    return [job for index, job in enumerate(merged) if index not in folded]


def chapter_jobs(chapters: Sequence[str], profile: str, seeds: Sequence[int] | None = None,
                 variants: Sequence[str] | None = None, seed_major: bool = False) -> list[Job]:
    """The networks of ``chapters`` (or only the ``variants`` named) at ``seeds`` (None: the profile's), in the
    order they run: seeds inner, or outer with ``seed_major``. The search's points each run once, at the seed
    their configuration carries (the profile's first seed; a longer point may name its own); ``seeds`` must then
    be None. The corruptions chapter's jobs fold into the jobs of the other chapters listed that train the same
    networks (:func:`fold_corruptions`). Raises SystemExit where no variant named exists in a chapter, ValueError for
    an unknown chapter."""
    if seeds is not None and "search" in chapters:
        raise ValueError("seeds do not apply to the search: each of its points has the seed its profile gives it")
    jobs: list[Job] = []
    known: set[str] = set()
    for chapter in chapters:
        if chapter == "baselines":  # groups at their own seeds (the depth study at fewer)
            found_jobs, names = baseline_jobs(profile, seeds, variants, seed_major)
            if variants and not set(variants) & names:
                raise SystemExit(f"no variant {sorted(variants)} in baselines; it has {sorted(names)}")
            jobs += found_jobs
            known.update(names)
            continue
        found = chapter_networks(chapter, profile)
        chosen_seeds: list[int | None] = [None]  # the search: one run per point, at its own seed
        if chapter != "search":
            chosen_seeds = list(seeds if seeds is not None else profiles.seeds(profile))
        known.update(found)
        if variants and not set(variants) & set(found):
            raise SystemExit(f"no variant {sorted(variants)} in {chapter}; it has {sorted(found)}")
        chosen = [(n, v) for n, v in found.items() if not variants or n in variants]
        order = ([(s, n, v) for s in chosen_seeds for n, v in chosen] if seed_major
                 else [(s, n, v) for n, v in chosen for s in chosen_seeds])
        for seed, name, (config, evaluation, after) in order:
            config = config if seed is None else dataclasses.replace(config, seed=int(seed))
            jobs.append(Job(chapter, name, config.seed, config, evaluation,
                            tuple(step.at_seed(config.seed) for step in after)))
    unknown = sorted(set(variants or []) - known)
    if unknown:  # a misspelled name beside valid ones would otherwise be dropped silently
        raise SystemExit(f"no variant {unknown} in {', '.join(chapters)}")
    return fold_corruptions(jobs)


# ---------------------------------------------------------------------------------------------------------------------
# submitit: one job per network

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_SUBMITIT_FOLDER = Path.home() / ".onen" / "submitit"
JOBS_INDEX = "jobs.jsonl"  # in the submitit folder: one line per submitted job (its id, network, cache key, log folder)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """What ``--launcher submitit`` asks for each job.

    ``cluster``: submitit's ``AutoExecutor(cluster=...)``: "slurm", "local" (real subprocesses on this machine) or
    "debug" (in this process, when its result is asked for); None lets submitit pick (SLURM where it finds it, else
    local). ``folder``: the logs, one folder per job (``<folder>/<job id>``), and the index of submitted jobs that
    :func:`network_status` reads. ``timeout_min``: minutes a job may run (SLURM's ``--time``; the local cluster's
    timeout too); a network cut off resumes from its last epoch's checkpoint when launched again.
    ``gpus_per_node``, ``cpus_per_task``: what each job asks for (None: the cluster's default)."""

    cluster: str | None = None
    folder: Path = DEFAULT_SUBMITIT_FOLDER
    slurm_partition: str | None = None
    timeout_min: int = 240
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")
        if self.timeout_min < 1:
            raise ValueError(f"the time limit must be at least 1 minute, got {self.timeout_min}")
        if self.gpus_per_node is not None and self.gpus_per_node < 0:
            raise ValueError(f"gpus per node must be 0 or more, got {self.gpus_per_node}")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise ValueError(f"cpus per task must be at least 1, got {self.cpus_per_task}")
        if self.slurm_partition is not None and not self.slurm_partition.strip():
            raise ValueError("the SLURM partition must not be empty")

    def parameters(self) -> dict[str, Any]:
        """The keyword arguments of ``AutoExecutor.update_parameters`` (generic ones apply to every cluster; the
        partition only to SLURM)."""
        found = {"timeout_min": self.timeout_min, "gpus_per_node": self.gpus_per_node,
                 "cpus_per_task": self.cpus_per_task, "slurm_partition": self.slurm_partition}
        return {key: value for key, value in found.items() if value is not None}


def import_submitit() -> Any:
    """The submitit module; SystemExit with a one-line message naming the extra to install where it is missing."""
    try:
        import submitit
    except ImportError:
        raise SystemExit("error: --launcher submitit needs submitit: pip install -e '.[cluster]'") from None
    return submitit


def make_executor(cluster: Cluster) -> Any:
    """submitit's ``AutoExecutor`` for ``cluster``, each job's log folder ``<folder>/<job id>`` and its limits set.
    SystemExit with one line where the cluster asked for is not here (SLURM on a machine without ``srun``)."""
    submitit = import_submitit()
    folder = Path(cluster.folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster.cluster)
    except RuntimeError as err:  # no SLURM here, or no executor at all
        raise SystemExit(f"error: submitit cannot launch here: {err} (--cluster local runs the jobs on this machine)"
                         ) from None
    executor.update_parameters(**cluster.parameters())
    return executor


def job_key(job: Job) -> str:
    """The cache key of ``job``'s network: the ``<hash>`` of its entry ``<results_dir>/<runs or
    regularizer_search>/<hash>.npz`` (the keys are those of :func:`onen.runs.experiments.run` and
    :func:`onen.runs.search.search_point`)."""
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        return config_hash(search._key(job.config, job.evaluation))
    assert isinstance(job.evaluation, EvalConfig), job.label
    return config_hash(_run_key(job.config, job.evaluation))


def run_submitted(job: Job, results_dir: str, device: str, threads: int | None) -> tuple[float, bool]:
    """What one submitit job runs: :func:`compute` of ``job`` with ``threads`` CPU threads (None: the job's default),
    logging every finished epoch to the job's log."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return compute(job, results_dir, device, progress=False)


def submit_jobs(jobs: Sequence[Job], results_dir: str, device: str, cluster: Cluster, threads: int | None = None,
                poll_s: float = 10.0) -> list[str]:
    """Submit every network of ``jobs`` that is not in the cache as its own submitit job, wait for them all and report
    each as it ends; returns the labels of those that failed (each printed with its error and log folder).

    ``threads``: CPU threads of each job (None: ``cluster.cpus_per_task``, else the job's default). With equal thread
    counts a network is bitwise the one :func:`run_jobs` computes. ``poll_s``: seconds between looks at the jobs.
    Interrupted, the launcher stops waiting, and the jobs go on (``python -m onen status`` follows them)."""
    submitit = import_submitit()
    results_dir = str(Path(results_dir).resolve())  # a job may start in another working directory
    threads = threads if threads is not None else cluster.cpus_per_task
    began = time.perf_counter()
    cached = [is_done(job, results_dir) for job in jobs]
    for index, job in enumerate([job for job, hit in zip(jobs, cached) if hit], 1):
        print(f"[{index}/{len(jobs)}] {job.label}: cached", flush=True)
    pending = [job for job, hit in zip(jobs, cached) if not hit]
    if not pending:
        return []
    folder = Path(cluster.folder).expanduser().resolve()
    executor = make_executor(cluster)
    submitted = []
    with open(folder / JOBS_INDEX, "a", encoding="utf-8") as index_file:
        for job in start_order(pending):
            key = job_key(job)
            executor.update_parameters(name=f"onen-{job.chapter}-{key}")
            handle = executor.submit(run_submitted, job, results_dir, device, threads)
            logs = folder / str(handle.job_id)
            index_file.write(json.dumps({"job_id": str(handle.job_id), "key": key, "label": job.label,
                                         "folder": str(logs), "submitted": _now()}) + "\n")
            index_file.flush()
            submitted.append((handle, job, logs))
            print(f"submitted {job.label} as job {handle.job_id} ({executor.cluster}; logs in {logs})", flush=True)
    failed: list[str] = []
    done = len(jobs) - len(pending)
    by_handle = {id(handle): (job, logs) for handle, job, logs in submitted}
    try:
        for handle in submitit.helpers.as_completed([h for h, _, _ in submitted], poll_frequency=poll_s):
            job, logs = by_handle[id(handle)]
            done += 1
            try:
                seconds, fresh = handle.result()
            except Exception as error:  # a failed job: report it and wait for the others
                failed.append(job.label)
                print(f"[{done}/{len(jobs)}] {job.label}: FAILED (logs in {logs})\n{error}", flush=True)
                continue
            _report(done, len(jobs), job, seconds, fresh, began, None)
    except KeyboardInterrupt:
        print("stopped waiting; the submitted jobs go on (python -m onen status shows them)", flush=True)
        raise
    return failed


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------------------------
# status

STATES = ("done", "running", "failed", "submitted", "missing")


@dataclasses.dataclass(frozen=True)
class NetworkStatus:
    """One network's state (one of :data:`STATES`) and what explains it: a failed or submitted job's log folder."""

    job: Job
    key: str
    state: str
    detail: str = ""


def lock_held(checkpoint: Path) -> bool:
    """Whether a process holds the lock :func:`onen.runs.experiments.checkpoint_lock` takes on ``checkpoint`` (that
    network is training). Looked at without waiting; False where ``fcntl`` does not exist (nothing is locked there)."""
    lock = checkpoint.with_name(checkpoint.name + ".lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        handle = open(lock, "rb")
    except FileNotFoundError:  # never trained here
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def submitted_jobs(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The last submitit job :func:`submit_jobs` recorded in ``folder`` for each cache key (empty if none)."""
    index = Path(folder).expanduser() / JOBS_INDEX
    if not index.is_file():
        return {}
    records: dict[str, dict[str, Any]] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["key"]] = record
    return records


def job_outcome(record: dict[str, Any]) -> str | None:
    """"success" or "error" as the submitit job of ``record`` wrote it in its result file; None while it has none.

    The result file is a pickle that the job itself wrote in the launcher's log folder (submitit's format: a tuple
    whose first item is the outcome)."""
    result = Path(record["folder"]) / f"{record['job_id']}_0_result.pkl"
    if not result.is_file():
        return None
    with open(result, "rb") as handle:
        outcome = pickle.load(handle)
    return str(outcome[0])


def network_status(jobs: Sequence[Job], results_dir: str,
                   submitit_folder: str | os.PathLike = DEFAULT_SUBMITIT_FOLDER) -> list[NetworkStatus]:
    """The state of every network of ``jobs``: done, running, failed, submitted or missing (see the module)."""
    records = submitted_jobs(submitit_folder)
    statuses = []
    for job in jobs:
        key = job_key(job)
        record = records.get(key)
        outcome = job_outcome(record) if record else None
        if is_done(job, results_dir):
            state, detail = "done", ""
        elif lock_held(checkpoint_path(job.config)):
            state, detail = "running", ""
        elif record and outcome == "error":
            state, detail = "failed", f"job {record['job_id']}: {record['folder']}"
        elif record and outcome is None:
            state, detail = "submitted", f"job {record['job_id']}: {record['folder']}"
        else:
            state, detail = "missing", f"job {record['job_id']} ended without it" if record else ""
            if run_stored(job, results_dir):  # trained and evaluated, but a step on its weights is not cached
                lacking = "run cached; missing " + ", ".join(step.label for step in missing_steps(job, results_dir))
                detail = f"{detail}; {lacking}" if detail else lacking
        statuses.append(NetworkStatus(job, key, state, detail))
    return statuses


def status_table(statuses: Sequence[NetworkStatus]) -> str:
    """An aligned table of ``statuses`` (name, seed, cache key, state, detail) and a count of each state."""
    rows = [("name", "seed", "key", "state", "detail")]
    rows += [(s.job.name, str(s.job.seed), s.key, s.state, s.detail) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) if i == 1 else cell.ljust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    counts = ", ".join(f"{sum(s.state == state for s in statuses)} {state}" for state in STATES)
    return "\n".join(lines + [f"{counts} ({len(statuses)} networks)"])


def status_main(argv: Sequence[str]) -> None:
    """``python -m onen status CHAPTER --profile P``: which networks of the chapter are done, running, failed,
    submitted or missing. A network is done when its run and the entry of every after-training step (its audit, its
    scoring on corrupted images) are cached; one whose run is cached without them is missing, and says which."""
    parser = argparse.ArgumentParser(prog="python -m onen status", description=status_main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=NETWORK_CHAPTERS)
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the profile's seeds")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--results-dir", default=None, help="default: results/<profile> beside the onen package")
    parser.add_argument("--submitit-folder", default=str(DEFAULT_SUBMITIT_FOLDER),
                        help="where --launcher submitit kept its logs (default %(default)s)")
    args = parser.parse_args(argv)
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be non-negative, got {args.seeds}")
    if args.seeds is not None and "search" in args.chapters:
        parser.error("--seeds does not apply to the search: each of its points has the seed its profile gives it")
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    jobs = chapter_jobs(args.chapters, args.profile, args.seeds, args.variants)
    print(f"{', '.join(args.chapters)}, profile {args.profile}, results {results_dir}")
    print(status_table(network_status(jobs, results_dir, args.submitit_folder)), flush=True)
