"""PGD adversarial training (Madry et al. 2018) as a registered penalty of the training loop."""

from __future__ import annotations

import pytest
import torch


def test_adversarial_training_steps_on_pgd_examples_of_its_batch() -> None:
    """regularizer="adversarial" takes each optimiser step on PGD examples (eps, steps of 2.5 eps / steps, a random
    start from the penalty's stream): one step of it equals a step on the same PGD examples made by hand."""
    from onen.attacks import pgd
    from onen.data import Split
    from onen.runs.config import TrainConfig
    from onen.runs.training import train

    g = torch.Generator().manual_seed(0)
    split = Split(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g))
    config = TrainConfig(widths=[16], epochs=1, batch_size=64, regularizer="adversarial", adversarial_eps=0.2,
                         adversarial_steps=3, fit_ranks=(2, 8), eigen_subset=64)
    model, history = train(config, split, progress=False)

    torch.manual_seed(config.seed)
    by_hand = config.model()
    optimiser = torch.optim.Adam(by_hand.parameters(), lr=config.lr, amsgrad=True)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(config.seed))
    x, y = split.images[order], split.labels[order]
    starts = torch.Generator().manual_seed(config.seed + 2)
    x_adv = pgd(by_hand, x, y, 0.2, steps=3, step_size=2.5 * 0.2 / 3, generator=starts)
    by_hand.train()
    loss = torch.nn.functional.cross_entropy(by_hand(x_adv), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    assert history.loss[0] == pytest.approx(loss.item(), rel=1e-6)
    for a, b in zip(model.state_dict().values(), by_hand.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert "adversarial_eps" in config.to_dict() and "adversarial_eps" not in TrainConfig().to_dict()
    with pytest.raises(ValueError, match="adversarial_eps"):
        TrainConfig(adversarial_eps=0.0, regularizer="adversarial")
    with pytest.raises(ValueError, match="regularizer 'adversarial' only"):
        TrainConfig(adversarial_eps=0.3)
