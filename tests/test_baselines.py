"""The baselines' building blocks, each against an independent reference: Eq. 2 without its hinge term, the
optimisers, spectral normalisation and the L1 activity penalty."""

from __future__ import annotations

import math

import pytest
import torch

from onen.data import Split
from onen.features import capture
from onen.regularizers import select_layers, spectral_penalty
from onen.runs.config import TrainConfig
from onen.runs.training import _fresh_state, train


def tiny_split(n: int = 64) -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def test_without_the_hinge_only_the_squares_remain() -> None:
    lam = torch.tensor([5.0, 3.0, 2.0, 1.5, 0.2, 0.1])
    tau, n = 1, 6
    anchor = 3.0
    ratios = [lam[k].item() / (anchor * (tau + 1) / (k + 1)) - 1 for k in range(tau + 1, n)]
    squares = sum(r * r for r in ratios) / n
    hinges = sum(max(r, 0.0) for r in ratios) / n
    assert spectral_penalty(lam, tau, 1.0, hinge=False).item() == pytest.approx(squares)
    assert spectral_penalty(lam, tau, 1.0).item() == pytest.approx(squares + hinges)
    assert "hinge" in TrainConfig(regularizer="spectral", hinge=False).to_dict()
    assert "hinge" not in TrainConfig(regularizer="spectral").to_dict()
    with pytest.raises(ValueError, match="hinge"):
        TrainConfig(hinge=False)


@pytest.mark.parametrize("optimiser, kind, decay", [("adam", torch.optim.Adam, 0.0), ("adamw", torch.optim.AdamW, 0.01),
                                                    ("sgd", torch.optim.SGD, 5e-4)])
def test_each_optimiser_is_the_torch_one_at_the_configured_settings(optimiser, kind, decay) -> None:
    config = TrainConfig(widths=[8], lr=0.1, optimiser=optimiser, weight_decay=decay,
                         **({"momentum": 0.5} if optimiser == "sgd" else {}))
    state = _fresh_state(config, torch.device("cpu"))
    assert type(state.optimiser) is kind
    group = state.optimiser.param_groups[0]
    assert group["lr"] == 0.1 and group["weight_decay"] == decay
    assert group["momentum"] == 0.5 if optimiser == "sgd" else group["amsgrad"] is True
    keyed = config.to_dict()
    assert ("optimiser" in keyed) == (optimiser != "adam") and ("momentum" in keyed) == (optimiser == "sgd")
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(momentum=0.5)


@pytest.mark.parametrize("target", [1.0, 2.5])
def test_spectral_normalisation_holds_every_weight_at_its_target(target) -> None:
    """After training, each linear weight's largest singular value (torch.linalg, exact) is the target, up to the
    power iteration's error."""
    config = TrainConfig(widths=[32], epochs=3, batch_size=16, spectral_norm=target, fit_ranks=(2, 8),
                         eigen_subset=64)
    model, _ = train(config, tiny_split(), progress=False)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2
    for layer in linears:
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
        assert sigma == pytest.approx(target, rel=0.05)
    with pytest.raises(ValueError, match="spectral_norm"):
        TrainConfig(spectral_norm=0.0)
    with pytest.raises(ValueError, match="spectral_norm"):
        TrainConfig(spectral_norm=math.inf)


def test_the_activity_penalty_is_the_mean_absolute_hidden_activation() -> None:
    """One epoch of one batch: the recorded penalty equals activity_l1 times the mean |h| of the hidden block of
    the network before its step, computed by hand."""
    split = tiny_split(32)
    config = TrainConfig(widths=[16], epochs=1, batch_size=32, regularizer="activity", activity_l1=0.5,
                         fit_ranks=(2, 8), eigen_subset=32)
    torch.manual_seed(config.seed)
    before = config.model()  # the same initial weights as the training loop's (same seed)
    order = torch.randperm(32, generator=torch.Generator().manual_seed(config.seed))
    with capture(select_layers(before, "all")) as features:
        before.train()(split.images[order])
    hidden = features[0]
    _, history = train(config, split, progress=False)
    assert history.penalty[0] == pytest.approx(0.5 * hidden.abs().mean().item(), rel=1e-5)
    assert TrainConfig(regularizer="activity").to_dict()["activity_l1"] == 1e-4
    with pytest.raises(ValueError, match="activity_l1"):
        TrainConfig(activity_l1=0.1)
