"""The spectrum-shaping layer against its definition: a float64 reference spectrum, batch independence in eval mode,
rank-deficient inputs, gradients, the whitened layer at alpha = 0, and short training runs at every exponent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from onen.runs.config import TrainConfig
from onen.shaping import SpectrumShaping, target_spectrum
from onen.runs.training import recalibrate
from onen.whiten import Whiten


def graded(n: int, d: int, seed: int, decay: float = 0.7) -> torch.Tensor:
    """[n, d] samples with covariance eigenvalues k^-decay in a random basis, plus a mean."""
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    scale = torch.arange(1, d + 1, dtype=torch.float64) ** (-decay / 2)
    return ((torch.randn(n, d, generator=gen, dtype=torch.float64) * scale) @ basis.T + 0.3).float()


def reference_spectra(x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Descending float64 eigenvalues of the covariances of x and y (numpy, independent of the layer's code)."""
    def eig(a: torch.Tensor) -> np.ndarray:
        return np.sort(np.linalg.eigvalsh(np.cov(a.detach().double().numpy(), rowvar=False)))[::-1]
    return eig(x), eig(y)


@pytest.mark.parametrize("alpha,tau", [(0.0, 0), (0.5, 3), (1.0, 10), (2.0, 10), (3.0, 5)])
def test_training_batch_spectrum_is_the_target(alpha: float, tau: int) -> None:
    x = graded(3000, 40, seed=1)
    layer = SpectrumShaping(40, alpha=alpha, tau=tau).train()
    lam_x, lam_y = reference_spectra(x, layer(x))
    n = np.arange(1, 41)
    gamma = np.where(n <= tau, lam_x, lam_x[tau] * ((tau + 1) / n) ** alpha)
    # float32 features: every eigenvalue within 0.1% of Eq. 2's target
    np.testing.assert_allclose(lam_y, gamma, rtol=1e-3)


def test_principal_directions_keep_their_order() -> None:
    x = graded(3000, 20, seed=2)
    y = SpectrumShaping(20, alpha=2.0, tau=2).train()(x).detach().double().numpy()
    cx, cy = np.cov(x.double().numpy(), rowvar=False), np.cov(y, rowvar=False)
    vx, vy = np.linalg.eigh(cx)[1][:, ::-1], np.linalg.eigh(cy)[1][:, ::-1]
    # the k-th principal direction of the output is the k-th of the input (up to sign)
    np.testing.assert_allclose(np.abs(np.sum(vx * vy, axis=0)), 1.0, atol=1e-3)


def test_target_spectrum_is_eq2() -> None:
    values = torch.tensor([9.0, 5.0, 4.0, 3.0, 1.0], dtype=torch.float64)
    expected = [9.0, 5.0, 4.0, 4.0 * (3 / 4) ** 1.5, 4.0 * (3 / 5) ** 1.5]
    np.testing.assert_allclose(target_spectrum(values, 2, 1.5).numpy(), expected)


def test_eval_mode_does_not_depend_on_the_batch() -> None:
    layer = SpectrumShaping(16, alpha=1.0, tau=2, momentum=None).train()
    x = graded(2000, 16, seed=3)
    for start in range(0, 2000, 500):
        layer(x[start:start + 500])
    layer.eval()
    whole = layer(x[:300])
    np.testing.assert_allclose(layer(x[:7]).detach().numpy(), whole[:7].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x[7:8]).detach().numpy(), whole[7:8].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_recalibrated_eval_spectrum_is_the_target() -> None:
    """After recalibration (cumulative running statistics), eval mode shapes the training images to the target, up to
    the running covariance being a mean of batch covariances, each about its own batch's mean (a 1/B effect)."""
    x = graded(4000, 24, seed=4)
    model = torch.nn.Sequential(SpectrumShaping(24, alpha=1.5, tau=4))
    recalibrate(model, x, batch_size=1000)
    lam_x, lam_y = reference_spectra(x, model.eval()(x))
    n = np.arange(1, 25)
    gamma = np.where(n <= 4, lam_x, lam_x[4] * (5 / n) ** 1.5)
    np.testing.assert_allclose(lam_y, gamma, rtol=5e-3)


def test_rank_deficient_input_gives_no_nan() -> None:
    x = graded(500, 10, seed=5)
    x = torch.cat([x, x[:, :3] * 2.0, torch.zeros(500, 3)], dim=1)  # 6 of 16 directions carry no variance
    layer = SpectrumShaping(16, alpha=1.0, tau=2).train()
    y = layer(x)
    assert torch.isfinite(y).all()
    few = SpectrumShaping(16, alpha=1.0, tau=2).train()(x[:5])  # fewer samples than features
    assert torch.isfinite(few).all()
    assert torch.isfinite(layer.eval()(x)).all()


def test_gradients_flow_through_the_features() -> None:
    gen = torch.Generator().manual_seed(6)
    linear = torch.nn.Linear(12, 20)
    layer = SpectrumShaping(20, alpha=1.0, tau=3).train()
    x = torch.randn(400, 12, generator=gen)
    loss = layer(torch.tanh(linear(x))).pow(2).sum(1).mean()
    loss.backward()
    assert linear.weight.grad is not None and torch.isfinite(linear.weight.grad).all()
    assert linear.weight.grad.abs().sum() > 0


def test_alpha_zero_is_the_whitened_layer_up_to_scale() -> None:
    x = graded(5000, 12, seed=7, decay=1.0)
    shaped = SpectrumShaping(12, alpha=0.0, tau=0, eps=1e-12).train()(x).detach().double()
    white = Whiten(12, eps=1e-9).train()(x).detach().double()
    top = np.linalg.eigvalsh(np.cov(x.double().numpy(), rowvar=False)).max()
    # both flat: the shaped one at lambda_1, the whitened one at 1, and one is a rotation of the other
    np.testing.assert_allclose(np.cov(shaped.numpy(), rowvar=False) / top, np.eye(12), atol=2e-4)
    rotation = torch.linalg.lstsq(white, shaped / np.sqrt(top)).solution
    np.testing.assert_allclose((rotation.T @ rotation).numpy(), np.eye(12), atol=2e-4)


def test_invalid_arguments_and_bad_batches_leave_state_untouched() -> None:
    with pytest.raises(ValueError, match="alpha"):
        SpectrumShaping(8, alpha=float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        SpectrumShaping(8, alpha=-1.0)
    with pytest.raises(ValueError, match="tau"):
        SpectrumShaping(8, tau=8)
    layer = SpectrumShaping(8, alpha=1.0, tau=1).train()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    bad = torch.randn(50, 8)
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layer(bad)
    with pytest.raises(ValueError, match="expects 8"):
        layer(torch.randn(50, 9))
    for k, v in layer.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_train_config_validates_the_shaped_layer() -> None:
    config = TrainConfig(widths=[30], shape_after=0, shape_alpha=1.5, tau=3)
    assert config.to_dict()["shape_alpha"] == 1.5
    assert "shape_alpha" not in TrainConfig(widths=[30]).to_dict()  # an unshaped network keeps its cache key
    assert isinstance(config.model().blocks[0][-1], SpectrumShaping)
    for bad in (dict(shape_after=1), dict(shape_after=0, shape_alpha=float("inf")),
                dict(shape_after=0, shape_alpha=-0.5), dict(shape_after=0, whiten_after=0),
                dict(shape_after=0, tau=30)):
        with pytest.raises(ValueError):
            TrainConfig(widths=[30], **bad)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_training_does_not_diverge(alpha: float) -> None:
    """A 20-64-3 tanh net with a shaped layer, 60 Adam steps on a separable problem: finite, and the loss falls."""
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(1200, 20, generator=gen)
    y = (x[:, :3].argmax(1)).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.Tanh(), SpectrumShaping(64, alpha=alpha, tau=4),
                                torch.nn.Linear(64, 3))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    losses = []
    for step in range(60):
        batch = torch.randint(0, 1200, (300,), generator=gen)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert torch.isfinite(model.eval()(x)).all()
