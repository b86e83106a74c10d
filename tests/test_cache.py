"""The results cache: hits, misses, damaged files and provenance."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from onen import cache
from onen.cache import CODE_VERSION, CachedResult, cached, config_hash, lookup

CONFIG = {"width": 2000, "lr": 1e-3, "layers": [1, 2], "nested": {"beta": 1.0, "name": "SpecReg"}}


class Counter:
    """A compute function that counts its calls and returns arrays of several dtypes and shapes."""

    def __init__(self, seed: int = 0):
        self.calls = 0
        self.seed = seed

    def __call__(self) -> tuple[dict[str, np.ndarray], dict]:
        self.calls += 1
        rng = np.random.default_rng(self.seed)
        arrays = {
            "spectrum": rng.standard_normal(257),  # float64, values no text format would keep exactly
            "images": rng.random((3, 1, 28, 28), dtype=np.float32),
            "labels": rng.integers(0, 10, size=17, dtype=np.int64),
            "mask": rng.random(5) > 0.5,
            "scalar": np.array(np.pi),
        }
        return arrays, {"clean_accuracy": 0.987, "history": {"loss": [2.3, 0.4]}}


def entry(results_dir: Path, name: str = "runs") -> tuple[Path, Path]:
    h = config_hash(CONFIG)
    return results_dir / name / f"{h}.npz", results_dir / name / f"{h}.json"


def test_config_hash_is_sha256_of_canonical_json():
    expected = hashlib.sha256(
        json.dumps({"config": CONFIG, "code_version": CODE_VERSION}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    assert config_hash(CONFIG) == expected
    # Key order does not matter; any value does.
    assert config_hash(dict(reversed(list(CONFIG.items())))) == config_hash(CONFIG)
    assert config_hash({**CONFIG, "lr": 2e-3}) != config_hash(CONFIG)


def test_hash_depends_on_code_version(monkeypatch):
    before = config_hash(CONFIG)
    monkeypatch.setattr(cache, "CODE_VERSION", CODE_VERSION + "-next")
    assert config_hash(CONFIG) != before


def test_hit_does_not_recompute_and_arrays_round_trip(tmp_path):
    compute = Counter()
    first = cached("runs", CONFIG, compute, tmp_path, seed=3)
    second = cached("runs", CONFIG, compute, tmp_path, seed=3)
    assert compute.calls == 1
    reference, meta = Counter()()
    for result in (first, second):
        assert isinstance(result, CachedResult)
        assert set(result.arrays) == set(reference)
        for key, value in reference.items():
            assert result.arrays[key].dtype == value.dtype
            assert result.arrays[key].shape == value.shape
            np.testing.assert_array_equal(result.arrays[key], value)
        assert result.meta == meta
    assert second.provenance == first.provenance


def test_hit_prints_nothing(tmp_path, capsys):
    cached("runs", CONFIG, Counter(), tmp_path)
    capsys.readouterr()
    cached("runs", CONFIG, Counter(), tmp_path)
    assert capsys.readouterr() == ("", "")


def test_refresh_recomputes(tmp_path):
    compute = Counter()
    cached("runs", CONFIG, compute, tmp_path)
    cached("runs", CONFIG, compute, tmp_path, refresh=True)
    assert compute.calls == 2


def test_different_config_different_file(tmp_path):
    compute = Counter()
    cached("runs", CONFIG, compute, tmp_path)
    cached("runs", {**CONFIG, "width": 1000}, compute, tmp_path)
    assert compute.calls == 2
    assert len(list((tmp_path / "runs").glob("*.npz"))) == 2
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2
    assert not list((tmp_path / "runs").glob("*.tmp"))


def test_provenance_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEN_GIT_COMMIT", "abc123")
    result = cached("runs", CONFIG, Counter(), tmp_path, seed=7, device="cuda:0")
    p = result.provenance
    for field in ("config", "config_hash", "seed", "device", "torch_version", "numpy_version", "python_version",
                  "git_commit", "code_version", "wall_time_s", "created"):
        assert field in p, field
    assert p["config"] == CONFIG and p["config_hash"] == config_hash(CONFIG)
    assert p["seed"] == 7 and p["device"] == "cuda:0" and p["code_version"] == CODE_VERSION
    assert p["numpy_version"] == np.__version__
    assert isinstance(p["git_commit"], str) and p["git_commit"]
    assert p["wall_time_s"] >= 0
    assert p["created"].endswith("+00:00")
    # The json on disk carries the same provenance and the checksum of the npz.
    npz, js = entry(tmp_path)
    record = json.loads(js.read_text())
    assert record["provenance"] == p
    assert record["npz_sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()


def test_git_commit_falls_back_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(cache.subprocess, "run", no_git)
    monkeypatch.delenv("ONEN_GIT_COMMIT", raising=False)
    assert cache.git_commit() == "unknown"
    monkeypatch.setenv("ONEN_GIT_COMMIT", "deadbeef")
    assert cache.git_commit() == "deadbeef"


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def truncate_json(path: Path) -> None:
    path.write_text(path.read_text()[: len(path.read_text()) // 2])


def delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage, which", [(flip_bytes, "npz"), (delete, "npz"), (truncate_json, "json"),
                                           (delete, "json"), (lambda p: p.write_text(""), "json")])
def test_damaged_entry_is_recomputed_with_warning(tmp_path, damage, which):
    compute = Counter()
    cached("runs", CONFIG, compute, tmp_path)
    npz, js = entry(tmp_path)
    target = npz if which == "npz" else js
    damage(target)
    with pytest.warns(UserWarning, match=str(target.name)):
        result = cached("runs", CONFIG, compute, tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(result.arrays["spectrum"], Counter()()[0]["spectrum"])
    # The entry was rewritten whole: a third call is a clean hit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached("runs", CONFIG, compute, tmp_path)
    assert compute.calls == 2


def test_stored_config_mismatch_is_recomputed(tmp_path):
    compute = Counter()
    cached("runs", CONFIG, compute, tmp_path)
    _, js = entry(tmp_path)
    record = json.loads(js.read_text())
    record["config"]["width"] = 1  # as if another config had hashed to the same name
    js.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match=js.name):
        cached("runs", CONFIG, compute, tmp_path)
    assert compute.calls == 2


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError):
        cached("runs", CONFIG, lambda: ({"objects": np.array([{"a": 1}], dtype=object)}, {}), tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def test_lookup_never_computes_and_finds_what_cached_stored(tmp_path):
    config = {"a": 1}
    assert lookup("thing", config, tmp_path) is None and not (tmp_path / "thing").exists()
    stored = cached("thing", config, lambda: ({"x": np.arange(3)}, {"m": 2}), tmp_path)
    found = lookup("thing", config, tmp_path)
    np.testing.assert_array_equal(found.arrays["x"], stored.arrays["x"])
    assert found.meta == {"m": 2} and lookup("thing", {"a": 2}, tmp_path) is None


def test_an_unwritable_results_folder_fails_before_computing(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.zeros(1)}, {}

    with pytest.raises(OSError, match="cannot be written"):
        cached("runs", CONFIG, compute, blocker / "results")
    assert calls == []  # nothing computed and then thrown away


def test_cache_files_are_readable_by_others_under_a_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        cached("runs", CONFIG, Counter(), tmp_path)
    finally:
        os.umask(old)
    for path in (tmp_path / "runs").iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_an_edited_value_in_the_json_is_reported_by_name_and_never_used(tmp_path):
    count = Counter()
    cached("runs", CONFIG, count, tmp_path)
    _, js = entry(tmp_path)
    record = json.loads(js.read_text())
    record["meta"]["n"] = record["meta"].get("n", 0) + 1  # a value changed by hand; the npz is untouched
    js.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match=f"{js.name}.*changed after it was written"):
        assert lookup("runs", CONFIG, tmp_path) is None
    with pytest.warns(UserWarning, match="changed after it was written"):
        cached("runs", CONFIG, count, tmp_path)
    assert count.calls == 2  # recomputed, not used


def test_seal_adds_the_record_checksum_to_an_old_entry_only_if_its_npz_is_intact(tmp_path):
    cached("runs", CONFIG, Counter(), tmp_path)
    npz, js = entry(tmp_path)
    record = json.loads(js.read_text())
    digest = record.pop("record_sha256")
    js.write_text(json.dumps(record))  # as written before the record checksum existed
    with pytest.warns(UserWarning, match="has no record checksum"):
        assert lookup("runs", CONFIG, tmp_path) is None
    assert cache.seal(tmp_path) == [js]
    assert json.loads(js.read_text())["record_sha256"] == digest
    assert lookup("runs", CONFIG, tmp_path) is not None
    js.write_text(json.dumps(record))
    npz.write_bytes(npz.read_bytes() + b"x")
    with pytest.warns(UserWarning, match="not sealed"):
        assert cache.seal(tmp_path) == []
