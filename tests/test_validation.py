"""Bad input is refused with a clear error and leaves state untouched (each case once passed silently)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onen.attacks import robustness_curve
from onen.data import Split
from onen.models import build_model
from onen.regularizers import SpectralRegularizer, spectral_penalty
from onen.runs.training import TrainConfig, train
from onen.whiten import Whiten


@pytest.mark.parametrize("fields, error, message", [
    (dict(arch="MLP"), ValueError, "arch must be one of"),
    (dict(activation="sigmoid"), ValueError, "activation must be one of"),
    (dict(dataset="cifar"), ValueError, "dataset must be one of"),
    (dict(epochs=2.5), TypeError, "epochs must be an integer"),
    (dict(batch_size=True), TypeError, "batch_size must be an integer"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(widths=[]), ValueError, "widths must be"),
    (dict(widths=[10, 0]), ValueError, "widths must be"),
    (dict(widths=[10.5]), ValueError, "widths must be"),
    (dict(whiten_after=1), ValueError, "whiten_after must be"),
    (dict(lr=float("nan")), ValueError, "lr must be finite"),
    (dict(beta=float("inf")), ValueError, "beta must be finite"),
])
def test_train_config_rejects_bad_fields(fields: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        TrainConfig(**fields)


def test_train_config_accepts_every_profile_setting() -> None:
    from onen.analysis import profiles

    for profile in profiles.PROFILES:
        for chapter in profiles.CHAPTER_VARIANTS:
            for config, _ in profiles.chapter_variants(chapter, profile).values():
                assert TrainConfig.from_dict(config.to_dict()) == config


def test_robustness_curve_rejects_a_nan_radius() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.rand(5, 1, 2, 2), torch.zeros(5, dtype=torch.long)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            robustness_curve(model, x, y, [0.0, bad], attack="fgsm")


def test_spectral_penalty_rejects_non_finite_eigenvalues() -> None:
    lam = torch.linspace(1, 0.1, 20)
    lam[15] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        spectral_penalty(lam, tau=2)


def test_whiten_leaves_its_running_statistics_untouched_on_bad_input() -> None:
    layer = Whiten(4)
    layer.train()
    layer(torch.randn(10, 4))
    before = {k: v.clone() for k, v in layer.named_buffers()}
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(torch.full((10, 4), float("nan")))
    singular = torch.zeros(10, 4)  # a constant batch: its covariance plus a tiny jitter still factorises
    layer.eps = -1.0  # force the factorisation to fail
    with pytest.raises(torch.linalg.LinAlgError):
        layer(singular)
    for name, value in layer.named_buffers():
        assert torch.equal(value, before[name]), name


def test_a_batch_of_one_is_refused_even_with_allow_small_batch() -> None:
    model = build_model("mlp", widths=[8])
    reg = SpectralRegularizer(model, [model.blocks[0]], allow_small_batch=True, tau=1)
    reg.refresh(torch.rand(50, 1, 28, 28))
    with pytest.raises(ValueError, match="at least 2"):
        reg.penalty([torch.randn(1, 8)])


def tiny_split() -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.rand(64, 1, 28, 28, generator=g), torch.arange(64) % 10)


def test_a_truncated_checkpoint_names_its_file(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run.pt"
    config = TrainConfig(widths=[8], epochs=1, batch_size=32)
    train(config, tiny_split(), progress=False, checkpoint=checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(RuntimeError, match="run.pt is unreadable"):
        train(config, tiny_split(), progress=False, checkpoint=checkpoint)


def test_a_checkpoint_of_another_configuration_says_which_fields_differ(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run.pt"
    train(TrainConfig(widths=[8], epochs=1, batch_size=32), tiny_split(), progress=False, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"fields that differ: lr \(checkpoint 0.001, asked 0.002\)"):
        train(TrainConfig(widths=[8], epochs=1, batch_size=32, lr=2e-3), tiny_split(), progress=False,
              checkpoint=checkpoint)


@pytest.mark.parametrize("fields", [dict(eps_pgd=[0.0, float("nan")]), dict(eps_fgsm=[]), dict(noise_sigmas=[-0.1]),
                                    dict(pgd_steps=0), dict(pgd_restarts=1.5), dict(test_subset=0),
                                    dict(spectrum_subset=1)])
def test_eval_config_rejects_bad_fields(fields: dict) -> None:
    from onen.runs.config import EvalConfig

    with pytest.raises(ValueError):
        EvalConfig(**fields)


def test_the_package_has_no_import_cycle() -> None:
    """Imports between onen's modules, at module level or inside functions, form no cycle; only the
    ``if __name__ == "__main__":`` block of ``python -m onen`` may reach the command line."""
    import ast

    package = Path(__file__).resolve().parents[1] / "onen"
    edges: dict[str, set[str]] = {}

    def main_guard(node: ast.AST) -> bool:
        return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)

    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {id(n) for top in tree.body if main_guard(top) for n in ast.walk(top)}
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skipped or not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1:
                targets |= {node.module} if node.module else {alias.name for alias in node.names}
            elif (node.module or "").startswith("onen"):
                targets.add((node.module or "").removeprefix("onen").lstrip(".") or "__init__")
        edges[path.stem] = {t.split(".")[0] for t in targets} - {path.stem}

    def visit(module: str, trail: tuple[str, ...]) -> None:
        for target in edges.get(module, ()):
            assert target not in trail, "import cycle: " + " -> ".join(trail[trail.index(target):] + (target,))
            visit(target, trail + (target,))

    for module in edges:
        visit(module, (module,))


@pytest.mark.parametrize("fields, error, message", [
    (dict(allow_small_batch="no"), TypeError, "allow_small_batch must be a bool"),
    (dict(recalibrate=1), TypeError, "recalibrate must be a bool"),
    (dict(jacobian_weight=-1.0), ValueError, "jacobian_weight must be >= 0"),
    (dict(fit_ranks=(20, 2)), ValueError, "fit_ranks"),
    (dict(fit_ranks=(0, 20)), ValueError, "fit_ranks"),
    (dict(beta=-0.5), ValueError, "beta must be >= 0"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (dict(tau=-1), ValueError, "tau must be >= 0"),
    (dict(spectral_layers="Last"), ValueError, "spectral_layers must be"),
    (dict(spectral_layers=[0.5]), ValueError, "spectral_layers must be"),
    (dict(regularizer="spectral", widths=[100], eigen_subset=50), ValueError, "eigen_subset"),
])
def test_train_config_rejects_fields_that_would_train_a_wrong_network(fields: dict, error: type,
                                                                       message: str) -> None:
    with pytest.raises(error, match=message):
        TrainConfig(**fields)


def test_eval_config_rejects_negative_sensitivity_indices() -> None:
    from onen.runs.config import EvalConfig

    with pytest.raises(ValueError, match="sensitivity_indices"):
        EvalConfig(sensitivity_indices=[0, -3])


def test_attacks_refuse_nan_images_and_nan_budgets() -> None:
    from onen.attacks import fgsm, gaussian_noise, pgd

    model = build_model("mlp", widths=[8], in_features=4, n_classes=3)
    x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fgsm(model, bad, y, 0.1)
    with pytest.raises(ValueError, match="step_size"):
        pgd(model, x, y, 0.1, steps=3, step_size=float("nan"))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_noise(x, float("nan"))


@pytest.mark.parametrize("value, on", [("", False), ("0", False), ("false", False), ("no", False), ("off", False),
                                       ("1", True), ("true", True), ("yes", True), ("ON", True)])
def test_cache_only_reads_the_usual_words(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from onen.runs.experiments import CACHE_ONLY_ENV, cache_only

    monkeypatch.setenv(CACHE_ONLY_ENV, value)
    assert cache_only() is on


def test_cache_only_refuses_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from onen.runs.experiments import CACHE_ONLY_ENV, cache_only

    monkeypatch.setenv(CACHE_ONLY_ENV, "maybe")
    with pytest.raises(ValueError, match="ONEN_CACHE_ONLY"):
        cache_only()


def test_a_misspelled_variant_beside_a_valid_one_is_refused() -> None:
    from onen.commands.cli import chapter_jobs

    with pytest.raises(SystemExit, match="Whitend"):
        chapter_jobs(["shallow"], "quick", None, ["Vanilla", "Whitend"])


def test_lookup_does_not_say_it_recomputes(tmp_path: Path) -> None:
    import json

    from onen.cache import cached, lookup

    cached("runs", {"a": 1}, lambda: ({"x": torch.zeros(1).numpy()}, {}), tmp_path)
    path = next((tmp_path / "runs").glob("*.json"))
    path.write_text("{")
    with pytest.warns(UserWarning) as caught:
        assert lookup("runs", {"a": 1}, tmp_path) is None
    assert "recomputing" not in str(caught[0].message) and "not used" in str(caught[0].message)
    json.loads("{}")


@pytest.mark.parametrize("argv, message", [
    (["shallow", "--seeds", "-1"], "--seeds must be non-negative"),
    (["shallow", "--device", "mps"], "not supported"),
    (["shallow", "--device", "meta"], "not supported"),
])
def test_the_command_line_answers_bad_values_in_one_line(argv: list[str], message: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from onen.commands.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_an_uncached_network_under_cache_only_ends_in_one_line(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from onen.commands.cli import main

    monkeypatch.setenv("ONEN_CACHE_ONLY", "1")
    with pytest.raises(SystemExit) as exit_:
        main(["shallow", "--variants", "Vanilla", "--results-dir", str(tmp_path)])
    assert str(exit_.value).startswith("error:") and "ONEN_CACHE_ONLY" in str(exit_.value)


def test_spectra_restore_each_submodule_s_own_mode() -> None:
    """A BatchNorm frozen in eval mode inside a model in training mode stays frozen after a spectrum is measured."""
    from onen.spectrum import bootstrap_spectra, layer_spectra

    model = build_model("mlp", widths=[6], in_features=4, n_classes=3, batchnorm=True).train()
    frozen = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)).eval()
    x = torch.rand(50, 4)
    layer_spectra(model, list(model.blocks), x)
    bootstrap_spectra(model, model.blocks[0], x, draws=2)
    assert model.training and not frozen.training


def test_a_diverged_run_says_where_its_loss_went_non_finite(mnist_test) -> None:
    images = mnist_test.images[:400].clone()
    images[7] = float("nan")  # the batch that holds it gives a NaN loss
    config = TrainConfig(widths=[16], epochs=2, batch_size=100, eigen_subset=200)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, step \d+"):
        train(config, Split(images, mnist_test.labels[:400]), progress=False)


def test_a_damaged_shorter_checkpoint_is_named(tmp_path: Path) -> None:
    from onen.runs.training import extend_checkpoint

    shorter = tmp_path / "short.pt"
    shorter.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="short.pt is unreadable") as caught:
        extend_checkpoint(shorter, tmp_path / "long.pt", TrainConfig(epochs=3))
    assert "weights_only" not in str(caught.value)
