"""Corruptions of 32x32 colour images: each checked against a property it must have, computed independently."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from onen.robustness.cifar_c import (CORRUPTIONS, PARAMETERS, SEVERITIES, CifarCorruptionConfig, corrupt, jpeg)


def natural_like(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth random colour images away from 0 and 1 (a blurred random field plus a colour gradient), so that
    clipping does not decide the tests, and that JPEG and blur act as they do on photographs."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 8, 8, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32)
    return (0.2 + 0.45 * smooth + 0.15 * ramp).clamp(0, 1)


def per_image_std(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).std(dim=1)


def test_every_corruption_keeps_shape_range_and_input() -> None:
    x = natural_like()
    copy = x.clone()
    for name in CORRUPTIONS:
        for severity in SEVERITIES:
            y = corrupt(x, name, severity, seed=1)
            assert y.shape == x.shape and y.dtype == x.dtype
            assert float(y.min()) >= 0 and float(y.max()) <= 1
            assert not torch.equal(y, x), f"{name} at severity {severity} changed nothing"
    assert torch.equal(x, copy)


def test_deterministic_given_the_seed() -> None:
    x = natural_like()
    for name in CORRUPTIONS:
        assert torch.equal(corrupt(x, name, 3, seed=4), corrupt(x, name, 3, seed=4))
    assert not torch.equal(corrupt(x, "gaussian_noise", 3, seed=4), corrupt(x, "gaussian_noise", 3, seed=5))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_is_monotone(name: str) -> None:
    x = natural_like(32)
    distance = [float((corrupt(x, name, s, seed=0) - x).square().mean().sqrt()) for s in SEVERITIES]
    assert all(b > a for a, b in zip(distance, distance[1:])), distance


def test_gaussian_noise_has_the_stated_standard_deviation() -> None:
    x = torch.full((64, 3, 32, 32), 0.5)  # mid-grey: at sigma <= 0.1 clipping at 0 or 1 is a 5-sigma event
    for severity, sigma in zip(SEVERITIES, PARAMETERS["gaussian_noise"]):
        diff = corrupt(x, "gaussian_noise", severity, seed=2) - x
        assert abs(float(diff.mean())) < 0.002
        assert float(diff.std()) == pytest.approx(sigma, rel=0.02)


def test_blur_keeps_constant_images_and_smooths_edges() -> None:
    flat = torch.full((2, 3, 32, 32), 0.3)
    torch.testing.assert_close(corrupt(flat, "gaussian_blur", 5), flat)
    x = natural_like()
    x[:, :, :, 16:] += 0.2  # a vertical edge
    x = x.clamp(0, 1)

    def total_variation(t: torch.Tensor) -> float:
        return float((t[..., 1:] - t[..., :-1]).abs().mean() + (t[..., 1:, :] - t[..., :-1, :]).abs().mean())

    values = [total_variation(x)] + [total_variation(corrupt(x, "gaussian_blur", s)) for s in SEVERITIES]
    assert all(b < a for a, b in zip(values, values[1:])), values


def test_brightness_raises_the_mean_and_the_value_channel() -> None:
    x = natural_like()
    means = [float(x.mean())] + [float(corrupt(x, "brightness", s).mean()) for s in SEVERITIES]
    assert all(b > a for a, b in zip(means, means[1:])), means
    # HSV value = max over channels; raised by the severity's amount where that does not reach 1
    for severity, shift in zip(SEVERITIES, PARAMETERS["brightness"]):
        value = corrupt(x, "brightness", severity).amax(dim=1)
        expected = (x.amax(dim=1) + shift).clamp(max=1)
        torch.testing.assert_close(value, expected, atol=2e-5, rtol=0)


def test_contrast_shrinks_each_image_towards_its_mean() -> None:
    x = natural_like()
    stds = [per_image_std(x)] + [per_image_std(corrupt(x, "contrast", s)) for s in SEVERITIES]
    for a, b in zip(stds, stds[1:]):
        assert torch.all(b < a)
    # blending with the image's own mean grey level: every pixel moves by (1 - factor) of its distance to it
    grey = (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean(dim=(1, 2)).view(-1, 1, 1, 1)
    for severity, factor in zip(SEVERITIES, PARAMETERS["contrast"]):
        torch.testing.assert_close(corrupt(x, "contrast", severity), (factor * x + (1 - factor) * grey).clamp(0, 1),
                                   atol=1e-5, rtol=0)


def test_jpeg_matches_pillow_and_quality_orders_the_error() -> None:
    x = natural_like(8)
    # quality 100 is near the identity: within a few grey levels on average (Pillow's default 4:2:0 chroma
    # subsampling and the rounding to 8 bits remain), a third of the error at quality 40
    near = float((jpeg(x, 1, quality=100) - x).abs().mean())
    assert near < 3 / 255
    assert near < float((jpeg(x, 1, quality=40) - x).abs().mean()) / 3
    errors = [float((jpeg(x, 1, quality=q) - x).square().mean()) for q in (100, 90, 60, 30, 10)]
    assert all(b > a for a, b in zip(errors, errors[1:])), errors
    # the same bytes as encoding the rounded image with Pillow directly
    pixels = (x[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=PARAMETERS["jpeg"][2])
    reference = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    got = (corrupt(x[:1], "jpeg", 3)[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(got, reference)


def test_bad_arguments_are_refused() -> None:
    x = natural_like(2)
    with pytest.raises(ValueError, match="corruption"):
        corrupt(x, "fog", 3)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ValueError, match="3, H, W"):
        corrupt(x[:, :1], "contrast", 1)
    with pytest.raises(ValueError, match="quality"):
        jpeg(x, 1, quality=0)
    with pytest.raises(ValueError, match="severities"):
        CifarCorruptionConfig(severities=(3, 1))
    with pytest.raises(ValueError, match="test_subset"):
        CifarCorruptionConfig(test_subset=0)
    with pytest.raises(ValueError, match="corruptions"):
        CifarCorruptionConfig(corruptions=("snow",))
    assert CifarCorruptionConfig(severities=[1, 3]).to_dict()["severities"] == [1, 3]


@pytest.mark.parametrize("field, bad", [("test_subset", True), ("test_subset", -3), ("severities", ()),
                                        ("severities", (2, 2)), ("severities", (True,)), ("severities", (6,)),
                                        ("corruptions", ("gaussian_noise", "gaussian_noise")), ("corruptions", ()),
                                        ("seed", -1), ("seed", 1.0), ("batch_size", 0), ("batch_size", False)])
def test_both_corruption_selections_reject_the_same_fields(field, bad):
    """MNIST's and CIFAR-10's selections share one validator: the same bad value fails both, naming the field."""
    from onen.robustness.mnist_c_eval import CorruptionConfig

    for make in (CorruptionConfig, CifarCorruptionConfig):
        with pytest.raises(ValueError, match=field):
            make(**{field: bad})
    assert CorruptionConfig(severities=(1, 5), seed=2).severities == (1, 5)
    assert CifarCorruptionConfig(severities=(1, 5), seed=2).severities == (1, 5)


def test_both_corruption_selections_share_one_cache_key_rule():
    """The batch size changes no result, so neither selection keys it; every other field is keyed, in both. MNIST's
    key is the one its committed results were stored under (the four fields, in this order)."""
    from onen.cache import config_hash
    from onen.robustness.mnist_c_eval import CorruptionConfig

    for make in (CorruptionConfig, CifarCorruptionConfig):
        assert make(batch_size=7).to_dict() == make(batch_size=1000).to_dict()
        assert make(seed=1).to_dict() != make(seed=2).to_dict()
        assert list(make().to_dict()) == ["test_subset", "severities", "corruptions", "seed"]
    mnist = CorruptionConfig(test_subset=40, corruptions=("fog",))
    assert config_hash(mnist.to_dict()) == config_hash(
        {"test_subset": 40, "severities": [3], "corruptions": ["fog"], "seed": 0})
