"""A results cache keyed by configuration, with the provenance of every result.

A result is a dict of numpy arrays plus a dict of JSON-able values, computed by a function of a configuration. It is
stored as two files under ``<results_dir>/<name>/``:

- ``<hash>.npz``: the arrays (``np.savez_compressed``; loaded with ``allow_pickle=False``, so nothing but arrays
  can come back);
- ``<hash>.json``: the configuration, the values, the provenance (seed, device, library versions, git commit, wall
  time, date) and the sha256 of the npz file's bytes.

``<hash>`` is :func:`config_hash` of the configuration, which includes :data:`CODE_VERSION`, so bumping it after a
change that affects results makes every old entry a miss. Both files are written to a temporary name and renamed,
the json last: a json file exists only if its npz was complete. The json also holds ``record_sha256``, a checksum
of its own configuration, values, provenance and npz checksum. On load, a json that does not parse, a record or an
npz whose checksum differs, or a stored configuration that differs from the requested one is reported with a warning
naming the file and recomputed; a damaged or edited entry is never used. ``python -m onen.cache seal DIR`` adds the
record checksum to entries written before it existed (after checking their npz).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

CODE_VERSION: str = "2"  # bump when result-affecting code changes; part of every hash

log = logging.getLogger(__name__)

Compute = Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]


@dataclass
class CachedResult:
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]  # JSON-able values returned by compute
    provenance: dict[str, Any]  # config, config_hash, seed, device, versions, git_commit, code_version, wall_time_s, created


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def config_hash(config: Mapping[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON of ``config`` together with :data:`CODE_VERSION`."""
    payload = _canonical({"config": dict(config), "code_version": CODE_VERSION})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def git_commit() -> str:
    """HEAD of the repository this package lives in, else ``$ONEN_GIT_COMMIT``, else ``"unknown"``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git binary, or not runnable here
        pass
    return os.environ.get("ONEN_GIT_COMMIT", "unknown")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written in it; raise a clear error otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".onen-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OSError(f"results folder {folder} cannot be written ({err}); choose another results_dir") from err


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    """Write through ``write(file)`` to a temporary file in the same folder, then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a shared results folder should be readable like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


RECORD_FIELDS = ("config", "meta", "provenance", "npz_sha256")


def record_digest(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a cache record's configuration, values, provenance and npz checksum."""
    return hashlib.sha256(_canonical({k: record[k] for k in RECORD_FIELDS}).encode()).hexdigest()


def _load(npz_path: Path, json_path: Path, config: Mapping[str, Any], then: str = "recomputing") -> CachedResult | None:
    """The stored result, or None (with a warning naming the file and ending in ``then``) if it is missing, damaged
    or for another config."""
    if not json_path.exists():
        if npz_path.exists():  # an npz without its json: the write was interrupted
            warnings.warn(f"incomplete cache entry {npz_path} (no {json_path.name}); {then}", stacklevel=3)
        return None
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
        stored_config, meta, provenance, digest = (record["config"], record["meta"], record["provenance"],
                                                   record["npz_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        warnings.warn(f"unreadable cache file {json_path} ({err!r}); {then}", stacklevel=3)
        return None
    if record.get("record_sha256") != record_digest(record):
        why = "has no record checksum" if "record_sha256" not in record else "was changed after it was written"
        warnings.warn(f"cache file {json_path} {why}; {then}", stacklevel=3)
        return None
    # Compare through JSON so that tuples and lists, or int keys and str keys, compare as they were stored.
    if _canonical(stored_config) != _canonical(json.loads(_canonical(dict(config)))):
        warnings.warn(f"cache file {json_path} holds another configuration (hash collision?); {then}",
                      stacklevel=3)
        return None
    if not npz_path.exists():
        warnings.warn(f"cache file {npz_path} is missing; {then}", stacklevel=3)
        return None
    if sha256_file(npz_path) != digest:
        warnings.warn(f"cache file {npz_path} does not match its checksum; {then}", stacklevel=3)
        return None
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        warnings.warn(f"unreadable cache file {npz_path} ({err!r}); {then}", stacklevel=3)
        return None
    return CachedResult(arrays=arrays, meta=meta, provenance=provenance)


def lookup(name: str, config: Mapping[str, Any], results_dir: str | os.PathLike) -> CachedResult | None:
    """The stored result of ``config`` under ``results_dir/name``, or None if there is none; never computes. A
    damaged entry gives a warning and None, as in :func:`cached`."""
    key = config_hash(config)
    folder = Path(results_dir) / name
    return _load(folder / f"{key}.npz", folder / f"{key}.json", config, then="not used")


def cached(name: str, config: Mapping[str, Any], compute: Compute, results_dir: str | os.PathLike, *,
           seed: int | None = None, device: str = "cpu", refresh: bool = False) -> CachedResult:
    """Load the result of ``compute`` for ``config`` from ``results_dir/name``, or compute and store it.

    ``compute()`` returns ``(arrays, meta)``: numpy arrays (saved without pickling, so no object arrays) and
    JSON-able values. ``seed`` and ``device`` only go into the provenance (the config should already say
    everything that changes the result). ``refresh=True`` recomputes and overwrites even a valid entry.
    """
    key = config_hash(config)
    folder = Path(results_dir) / name
    npz_path, json_path = folder / f"{key}.npz", folder / f"{key}.json"

    if not refresh:
        hit = _load(npz_path, json_path, config)
        if hit is not None:
            log.info("cache hit %s", json_path)
            return hit

    writable_folder(folder)  # before computing: a result that cannot be stored would be lost
    log.info("computing %s/%s", name, key)
    began = time.perf_counter()
    arrays, meta = compute()
    wall_time = time.perf_counter() - began
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    objects = [k for k, v in arrays.items() if v.dtype.hasobject]
    if objects:  # they could only be stored by pickling
        raise TypeError(f"cannot cache object arrays {objects} of {name}; convert them to numeric arrays")
    meta = json.loads(_canonical(meta))  # fail now, not at load time, if meta is not JSON-able; normalise tuples

    provenance = _provenance(config, key, seed, device, wall_time)

    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(npz_path, lambda f: np.savez_compressed(f, **arrays), "wb")
    record = {"config": provenance["config"], "meta": meta, "provenance": provenance,
              "npz_sha256": sha256_file(npz_path)}
    record["record_sha256"] = record_digest(record)
    _atomic_write(json_path, lambda f: f.write(json.dumps(record, indent=1, sort_keys=True)), "w")

    # Hand back what a later load would return, so a first run and a rerun see the same values and dtypes.
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return CachedResult(arrays=arrays, meta=meta, provenance=provenance)


def _provenance(config: Mapping[str, Any], key: str, seed: int | None, device: str, wall_time: float) -> dict[str, Any]:
    """Where and how a result was computed: its config and hash, seed, device, library versions, CPU threads, git
    commit, code version, wall time and date."""
    try:  # lazily: the cache itself does not need torch
        import torch
        torch_version, torch_threads = torch.__version__, torch.get_num_threads()
    except ImportError:
        torch_version, torch_threads = "absent", None
    return {
        "config": json.loads(_canonical(dict(config))),
        "config_hash": key,
        "seed": seed,
        "device": device,
        "torch_version": torch_version,
        "torch_threads": torch_threads,  # on a CPU the thread count changes floating-point sums in the last bits
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "git_commit": git_commit(),
        "code_version": CODE_VERSION,
        "wall_time_s": wall_time,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def seal(folder: str | os.PathLike) -> list[Path]:
    """Add ``record_sha256`` to every entry under ``folder`` (recursively) that has none, after checking that its
    npz matches its checksum; returns the sealed json files. An entry whose npz does not match is left as it is
    (and stays unusable)."""
    sealed = []
    for json_path in sorted(Path(folder).rglob("*.json")):
        record = json.loads(json_path.read_text(encoding="utf-8"))
        if "record_sha256" in record or not {"config", "meta", "provenance", "npz_sha256"} <= set(record):
            continue
        npz_path = json_path.with_suffix(".npz")
        if not npz_path.exists() or sha256_file(npz_path) != record["npz_sha256"]:
            warnings.warn(f"cache file {npz_path} is missing or does not match its checksum; not sealed")
            continue
        record["record_sha256"] = record_digest(record)
        _atomic_write(json_path, lambda f: f.write(json.dumps(record, indent=1, sort_keys=True)), "w")
        sealed.append(json_path)
    return sealed


if __name__ == "__main__":  # python -m onen.cache seal results/paper
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "seal":
        raise SystemExit("usage: python -m onen.cache seal RESULTS_DIR")
    for path in seal(sys.argv[2]):
        print(f"sealed {path}")
