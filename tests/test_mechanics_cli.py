"""``python -m onen regularizer eigenbasis tracked``: the mechanics chapters' cached runs, computed with exactly the
arguments their chapters pass (so the chapters then load them), without training anything here."""

from __future__ import annotations

import pytest

from onen.analysis import profiles
from onen.commands import cli, mechanics
from onen.runs import regularizer_runs as runs


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(runs, "run_variants", lambda variants, settings, seeds, d, dev: seen.append(
        ("run_variants", dict(variants), settings, list(seeds), d, dev)) or {n: [] for n in variants})
    monkeypatch.setattr(runs, "batch_size_study", lambda study, d: seen.append(("batch_size_study", study, d)))
    monkeypatch.setattr(runs, "basis_error_runs", lambda settings, track, seed, d, dev: seen.append(
        ("basis_error_runs", settings, track, seed, d, dev)) or {"a": 1, "b": 2})
    return seen


def test_each_chapter_is_computed_as_the_chapter_asks(calls, tmp_path) -> None:
    settings = profiles.regularizer_settings("quick")
    seeds = profiles.seeds("quick")
    assert mechanics.compute("regularizer", "quick", None, str(tmp_path), "cpu") == len(runs.sweep_variants(settings))
    assert calls[-1] == ("run_variants", runs.sweep_variants(settings), settings, seeds, str(tmp_path), "cpu")
    mechanics.compute("eigenbasis", "quick", [3], str(tmp_path), "cpu")
    assert calls[-2] == ("batch_size_study", runs.batch_study_settings(settings.batch_study_draws), str(tmp_path))
    assert calls[-1][:4] == ("run_variants", runs.staleness_variants(settings), settings, [3])
    assert mechanics.compute("tracked", "quick", [7, 8], str(tmp_path), "cpu") == 2
    assert calls[-1] == ("basis_error_runs", settings, profiles.TRACKED, 7, str(tmp_path), "cpu")


def test_the_command_line_runs_them_before_any_network(calls, tmp_path, capsys) -> None:
    cli.main(["tracked", "regularizer", "--profile", "quick", "--results-dir", str(tmp_path), "--device", "cpu"])
    assert [c[0] for c in calls] == ["basis_error_runs", "run_variants"]
    out = capsys.readouterr().out
    assert "tracked: 2 results" in out and "regularizer:" in out
