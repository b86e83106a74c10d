"""The CIFAR-10 CNN: shapes, the folded normalisation, the blocks' features, its configuration and profiles."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onen.analysis import profiles
from onen.runs.config import TrainConfig
from onen.features import capture
from onen.models import CIFAR10_MEAN, CIFAR10_STD, CifarCNN, build_model, cifar_widths
from onen.regularizers import SpectralRegularizer, select_layers
from onen.spectrum import layer_spectra


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def reference_forward(model: CifarCNN, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The network written out with torch.nn.functional from its parameters: normalise by hand, then each block."""
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    h = (x - mean) / std
    features = []
    for block in model.blocks:
        conv1, conv2 = block[0], block[2]
        h = torch.tanh(F.conv2d(h, conv1.weight, conv1.bias, padding=1))
        h = torch.tanh(F.conv2d(h, conv2.weight, conv2.bias, padding=1))
        h = F.max_pool2d(h, 2)
        features.append(h)
    linear = model.head[1]
    return features, h.flatten(1) @ linear.weight.T + linear.bias


def test_shapes_and_widths() -> None:
    torch.manual_seed(0)
    model = CifarCNN()
    hidden, logits = model.hidden(images(5))
    assert logits.shape == (5, 10)
    assert model.widths == [32 * 16 * 16, 64 * 8 * 8, 128 * 4 * 4] == cifar_widths((32, 64, 128))
    assert [h.shape for h in hidden] == [(5, w) for w in model.widths]
    small = build_model("cifar_cnn", channels=[4, 8, 16])
    assert small.widths == [1024, 512, 256]
    assert [type(m) for m in model.blocks[0]] == [nn.Conv2d, nn.Tanh, nn.Conv2d, nn.Tanh, nn.MaxPool2d]
    assert [m.out_channels for b in model.blocks for m in b if isinstance(m, nn.Conv2d)] == [32, 32, 64, 64, 128, 128]


def test_normalisation_is_folded_into_the_model() -> None:
    torch.manual_seed(1)
    model = CifarCNN(channels=[4, 8, 16]).eval()
    x = images(6, seed=3)
    features, logits = reference_forward(model, x)
    torch.testing.assert_close(model(x), logits, rtol=1e-5, atol=1e-5)
    # the normalisation layer has no parameters to train
    constants = {id(b) for b in model.normalise.buffers()}
    assert len(constants) == 2 and not any(id(p) in constants for p in model.parameters())
    assert sum(p.numel() for p in model.normalise.parameters()) == 0
    assert {"normalise.mean", "normalise.std"} <= set(model.state_dict())  # saved with the weights, never trained
    # a constant image at the channel means becomes zeros before the first convolution
    at_mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    assert torch.allclose(model.normalise(at_mean), torch.zeros(1, 3, 32, 32), atol=1e-6)


def test_blocks_expose_the_block_outputs() -> None:
    torch.manual_seed(2)
    model = CifarCNN(channels=[4, 8, 16]).eval()
    x = images(4, seed=5)
    features, _ = reference_forward(model, x)
    with capture(list(model.blocks)) as captured:
        model(x)
    for got, expected in zip(captured, features):
        torch.testing.assert_close(got, expected.flatten(1), rtol=1e-5, atol=1e-5)


def test_spectral_regularizer_and_spectra_work_on_the_blocks() -> None:
    torch.manual_seed(3)
    model = CifarCNN(channels=[2, 2, 4])  # widths 512, 128, 64
    x = images(64, seed=1)
    reg = SpectralRegularizer(model, select_layers(model, "all"), basis="tracked", tau=10)
    spectra = reg.refresh(x)
    assert [s.shape[0] for s in spectra] == model.widths
    model.train()
    with capture(reg.layers) as feats:
        model(x[:16])  # a batch narrower than every block
    penalty = reg.penalty(feats)
    penalty.backward()
    assert torch.isfinite(penalty) and float(penalty.detach()) > 0
    assert model.blocks[0][0].weight.grad is not None and float(model.blocks[0][0].weight.grad.abs().sum()) > 0
    assert [s.shape[0] for s in layer_spectra(model, list(model.blocks), x)] == model.widths


def test_config_validates_the_architecture() -> None:
    config = TrainConfig(arch="cifar_cnn", dataset="cifar10")
    assert config.channels == [32, 64, 128] and config.widths == [8192, 4096, 2048]
    assert "widths" not in config.to_dict() and config.to_dict()["channels"] == [32, 64, 128]
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert isinstance(config.model(), CifarCNN)
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(arch="cifar_cnn", dataset="mnist")
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(arch="cnn", dataset="cifar10")
    with pytest.raises(ValueError, match="channels"):
        TrainConfig(arch="cifar_cnn", dataset="cifar10", channels=[8, 16])
    with pytest.raises(ValueError, match="channels"):
        TrainConfig(arch="mlp", channels=[8, 16, 32])
    with pytest.raises(ValueError, match="BatchNorm"):
        TrainConfig(arch="cifar_cnn", dataset="cifar10", batchnorm=True)
    # the existing architectures' keys do not mention channels
    assert "channels" not in TrainConfig(arch="cnn").to_dict()
    assert "channels" not in TrainConfig().to_dict()


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_profile_settings_validate(profile: str) -> None:
    settings = profiles.cifar_settings(profile)
    variants = profiles.cifar_variants(profile)
    assert list(variants) == ["Vanilla", "SpecReg (all)", "Jacobian"]
    spec = variants["SpecReg (all)"]
    assert (spec.regularizer, spec.spectral_layers, spec.basis, spec.tau, spec.alpha, spec.beta) == \
        ("spectral", "all", "tracked", 10, 1.0, 1.0)
    assert variants["Jacobian"].jacobian_weight == 0.01
    for config in variants.values():
        assert config.arch == "cifar_cnn" and config.dataset == "cifar10"
    evaluation = profiles.cifar_evaluation(profile)
    assert [round(255 * e) for e in evaluation.eps_pgd] == [0, 1, 2, 4, 8, 16]
    assert profiles.cifar_audit(profile).eps[-1] == pytest.approx(4 / 255) and len(profiles.cifar_audit(profile).eps) == 2
    assert profiles.cifar_corruption_config(profile).corruptions
    if profile == "paper":
        assert variants["Vanilla"].channels == [32, 64, 128] and variants["Vanilla"].train_subset is None
        assert len(settings.seeds) == 3
    else:
        assert len(settings.seeds) == 1
    # the settings are a frozen record: nobody can change them
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.train.lr = 99.0  # type: ignore[misc]
    assert profiles.cifar_settings(profile) is settings
    with pytest.raises(ValueError, match="profile"):
        profiles.cifar_settings("fast")


def test_variants_differ_only_in_the_regularizer() -> None:
    variants = profiles.cifar_variants("quick")
    regularizer_fields = {"regularizer", "spectral_layers", "beta", "tau", "alpha", "jacobian_weight", "basis",
                          "track_every", "track_momentum"}
    vanilla = variants["Vanilla"].to_dict()
    for config in variants.values():
        d = config.to_dict()
        assert {k: v for k, v in d.items() if k not in regularizer_fields} == \
            {k: v for k, v in vanilla.items() if k not in regularizer_fields}
