"""Recomputing the running statistics of BatchNorm and whitening layers after training (``recalibrate``), the
whitening layer's cumulative average, the keys of the configs these change, and a whitened network at the book's
settings measuring white."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from onen.analysis import profiles
from onen.runs.config import TrainConfig
from onen.models import CNN_WIDTHS
from onen.spectrum import fit_power_law, layer_spectra, white_reference_alpha
from onen.runs.training import recalibrate, train
from onen.whiten import Whiten


def batches(n_batches: int, batch: int, d: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=gen) / d**0.5 + torch.eye(d)
    return [torch.randn(batch, d, generator=gen) @ mix * (1 + i) + i for i in range(n_batches)]


def test_cumulative_whitening_statistics_are_the_plain_average_of_the_batches() -> None:
    layer = Whiten(6, momentum=None)
    data = batches(5, 40, 6, seed=0)
    for x in data:
        layer(x)
    reference = [x.double().numpy() for x in data]
    np.testing.assert_allclose(layer.running_mean.double().numpy(), np.mean([x.mean(0) for x in reference], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.running_cov.double().numpy(),
                               np.mean([np.cov(x, rowvar=False) for x in reference], 0), rtol=1e-4, atol=1e-4)
    assert int(layer.num_batches_tracked) == 5


def test_recalibrate_matches_swa_update_bn_and_the_whitening_average() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.BatchNorm1d(8), nn.Linear(8, 7), nn.Tanh(), Whiten(7))
    images = torch.cat(batches(6, 32, 5, seed=1))
    model.train()
    for x in batches(3, 32, 5, seed=2):  # stale statistics of other inputs, to be replaced
        model(x)
    reference = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.BatchNorm1d(8))
    reference.load_state_dict(model[:3].state_dict())
    torch.optim.swa_utils.update_bn([images[i:i + 32] for i in range(0, 192, 32)], reference)
    model.eval()
    recalibrate(model, images, batch_size=32)
    assert not model.training and not model[2].training  # flags restored
    assert model[2].momentum == 0.1 and model[5].momentum == 0.1  # momenta restored
    torch.testing.assert_close(model[2].running_mean, reference[2].running_mean)
    torch.testing.assert_close(model[2].running_var, reference[2].running_var)
    upstream = copy.deepcopy(model[:5]).train()  # during the pass BatchNorm normalises with each batch's statistics
    with torch.no_grad():  # the whitening layer's input, batch by batch, at the final weights
        hidden = [upstream(images[i:i + 32]).double().numpy() for i in range(0, 192, 32)]
    np.testing.assert_allclose(model[5].running_cov.double().numpy(),
                               np.mean([np.cov(h, rowvar=False) for h in hidden], 0), rtol=1e-4, atol=1e-5)


def test_recalibrate_uses_full_batches_only() -> None:
    layer = Whiten(3, momentum=None)
    model = nn.Sequential(layer)
    recalibrate(model, torch.rand(10, 3), batch_size=4)  # two full batches; the last 2 images are left out
    assert int(layer.num_batches_tracked) == 2
    recalibrate(model, torch.rand(3, 3), batch_size=4)  # fewer images than a batch: one batch of all of them
    assert int(layer.num_batches_tracked) == 1


def test_new_fields_change_the_keys_of_the_networks_they_change_only() -> None:
    plain, bn = TrainConfig(), TrainConfig(batchnorm=True)
    assert "whiten_eps" not in plain.to_dict() and "recalibrate" not in bn.to_dict()
    whitened = TrainConfig(whiten_after=0)
    assert whitened.to_dict()["whiten_eps"] == 1e-5
    assert TrainConfig.from_dict(whitened.to_dict()) == whitened
    cnn = TrainConfig(arch="cnn", widths=[5])
    assert cnn.widths == list(CNN_WIDTHS) and "widths" not in cnn.to_dict()
    assert TrainConfig.from_dict(cnn.to_dict()) == cnn
    for bad in (float("nan"), -1.0):
        with pytest.raises(ValueError):
            TrainConfig(whiten_after=0, whiten_eps=bad)
    for profile in ("quick", "paper"):
        for name, config in profiles.shallow_variants(profile).items():
            assert config.recalibrate == (config.whiten_after is not None or (config.batchnorm and profile == "quick"))


def test_white_reference_follows_marchenko_pastur() -> None:
    # the exponent shrinks as images per dimension grow, and stays below what the Marchenko-Pastur edges
    # (1 +- sqrt(d/n))^2 allow over the fitted ranks
    exponents = [white_reference_alpha(n, 100, (11, 100)) for n in (500, 2000, 20000)]
    assert exponents[0] > exponents[1] > exponents[2] > 0
    for n, exponent in zip((500, 2000, 20000), exponents):
        r = np.sqrt(100 / n)
        assert exponent < np.log((1 + r) ** 2 / (1 - r) ** 2) / np.log(100 / 11)
    z = torch.randn(500, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    direct = fit_power_law(np.linalg.eigvalsh(np.cov(z.numpy(), rowvar=False))[::-1], (11, 100))
    assert exponents[0] == pytest.approx(direct, rel=1e-6)
    with pytest.raises(ValueError):
        white_reference_alpha(1, 10)


@pytest.mark.mnist
def test_the_books_whitened_shallow_net_is_white(mnist_train, mnist_test) -> None:
    """The quick profile's Whitened net: on its training images the whitened layer's exponent is below 0.1; on test
    images it is within 0.15 of an exactly white Gaussian sample of the same size (whose finite-sample exponent is
    itself about 0.1), where the jitter of 1e-3 with running statistics left as trained gave 0.50."""
    config = profiles.shallow("quick", whiten_after=0)
    model, _ = train(config, mnist_train, progress=False)
    seen = mnist_train.subset(config.train_subset, seed=config.seed).images[:10000]
    on_train = fit_power_law(layer_spectra(model, [model.blocks[0]], seen)[0], (11, 500))
    on_test = fit_power_law(layer_spectra(model, [model.blocks[0]], mnist_test.images)[0], (11, 500))
    reference = white_reference_alpha(10000, config.widths[0], (11, 500))
    assert abs(on_train) < 0.1, on_train
    assert abs(on_test - reference) < 0.15, (on_test, reference)
