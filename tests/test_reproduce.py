"""python -m onen reproduce: a tiny committed network trained again gives its numbers; an edited one
(sealed again, as if committed that way) is caught, with the difference named, and the command exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onen import cache
from onen.runs.config import EvalConfig, TrainConfig
from onen.runs.experiments import run

TINY = TrainConfig(widths=[16], epochs=1, batch_size=100, train_subset=500, eigen_subset=200, lr=1e-3)
EVAL = EvalConfig(test_subset=50, eps_fgsm=[0.0, 0.1], eps_pgd=[0.0, 0.1], noise_sigmas=[0.0, 0.2], pgd_steps=2,
                  spectrum_subset=200, sensitivity_indices=[0], store_outcomes=True)


@pytest.mark.mnist
def test_reproduce_a_tiny_committed_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from onen.commands.cli import main

    monkeypatch.setenv("ONEN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    committed = tmp_path / "committed"
    run(TINY, EVAL, str(committed), "cpu", progress=False)
    json_path = next((committed / "runs").glob("*.json"))
    main(["reproduce", json_path.stem, "--results-dir", str(committed), "--device", "cpu",
          "--weights", str(tmp_path / "w.pt")])
    assert "every stored number reproduced" in capsys.readouterr().out
    assert (tmp_path / "w.pt").is_file()

    record = json.loads(json_path.read_text())
    record["meta"]["clean_accuracy"] += 0.05  # a committed number that the network does not give
    del record["record_sha256"]
    json_path.write_text(json.dumps(record))
    cache.seal(committed)
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", json_path.stem, "--results-dir", str(committed), "--device", "cpu"])
    assert exit_.value.code == 1 and "differs: clean_accuracy" in capsys.readouterr().out


def test_reproduce_names_what_it_cannot_find(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onen.commands.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "0123456789abcdef", "--results-dir", str(tmp_path)])
    assert exit_.value.code == 2 and "give --seed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "shallow Nonsense", "--seed", "0", "--profile", "quick", "--results-dir", str(tmp_path)])
    assert "no network 'shallow Nonsense'" in capsys.readouterr().err
