"""Model shapes, layer placement, and capture() against running the submodules by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onen.features import capture
from onen.models import CNN, MLP, build_model
from onen.whiten import Whiten


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def types(block: nn.Module) -> list[type]:
    return [type(m) for m in block]


def test_mlp_shapes_and_widths() -> None:
    torch.manual_seed(0)
    model = MLP()
    assert model.widths == [2000]
    hidden, logits = model.hidden(images(5))
    assert logits.shape == (5, 10)
    assert [h.shape for h in hidden] == [(5, 2000)]
    deep = MLP(widths=[30, 20, 10], n_classes=4, activation="relu")
    hidden, logits = deep.hidden(images(3).reshape(3, 784))  # flat inputs work too
    assert [h.shape[1] for h in hidden] == deep.widths == [30, 20, 10]
    assert logits.shape == (3, 4)
    # relu blocks are non-negative, tanh blocks within (-1, 1)
    assert all(float(h.detach().min()) >= 0 for h in hidden)
    assert float(model.hidden(images(5))[0][0].detach().abs().max()) < 1


def test_cnn_shapes_and_widths() -> None:
    torch.manual_seed(0)
    model = CNN()
    assert model.widths == [2704, 800, 1000]
    hidden, logits = model.hidden(images(4))
    assert [tuple(h.shape) for h in hidden] == [(4, 2704), (4, 800), (4, 1000)]
    assert logits.shape == (4, 10)


@pytest.mark.parametrize("make", [lambda: MLP(widths=[40, 30]), lambda: MLP(widths=[40], batchnorm=True),
                                  lambda: CNN(activation="relu", batchnorm=True)])
def test_forward_equals_hidden_logits_and_hand_run_blocks(make) -> None:
    torch.manual_seed(1)
    model = make()
    model.eval()
    x = images(6, seed=2)
    hidden, logits = model.hidden(x)
    torch.testing.assert_close(model(x), logits, rtol=0, atol=0)
    # the representations are the block outputs, flattened
    h = x
    for block, captured in zip(model.blocks, hidden):
        h = block(h)
        torch.testing.assert_close(h.reshape(6, -1), captured, rtol=0, atol=0)
    torch.testing.assert_close(model.head(h), logits, rtol=0, atol=0)


def test_mlp_normaliser_placement() -> None:
    plain = MLP(widths=[20, 10])
    assert types(plain.blocks[0]) == [nn.Flatten, nn.Linear, nn.Tanh]
    assert types(plain.blocks[1]) == [nn.Linear, nn.Tanh]
    bn = MLP(widths=[20, 10], batchnorm=True, activation="relu")
    assert types(bn.blocks[0]) == [nn.Flatten, nn.Linear, nn.ReLU, nn.BatchNorm1d]
    assert types(bn.blocks[1]) == [nn.Linear, nn.ReLU, nn.BatchNorm1d]
    white = MLP(widths=[20, 10], whiten_after=1)
    assert types(white.blocks[0]) == [nn.Flatten, nn.Linear, nn.Tanh]
    assert types(white.blocks[1]) == [nn.Linear, nn.Tanh, Whiten]
    assert white.blocks[1][2].num_features == 10
    both = MLP(widths=[20], batchnorm=True, whiten_after=0)
    assert types(both.blocks[0]) == [nn.Flatten, nn.Linear, nn.Tanh, nn.BatchNorm1d, Whiten]


def test_whitened_mlp_block_output_is_white_in_training() -> None:
    torch.manual_seed(0)
    model = MLP(widths=[16], whiten_after=0)
    model.blocks[0][-1].eps = 1e-6
    model.train()
    hidden, _ = model.hidden(images(400))
    cov = torch.cov(hidden[0].detach().double().T)
    torch.testing.assert_close(cov, torch.eye(16, dtype=torch.float64), rtol=0, atol=2e-3)


def test_cnn_normaliser_placement() -> None:
    plain = CNN()
    assert types(plain.blocks[0]) == [nn.Conv2d, nn.Tanh, nn.MaxPool2d]
    assert types(plain.blocks[1]) == [nn.Conv2d, nn.Tanh, nn.MaxPool2d]
    assert types(plain.blocks[2]) == [nn.Flatten, nn.Linear, nn.Tanh]
    bn = CNN(batchnorm=True)
    # the authors' order in the conv blocks: conv -> BN -> tanh -> pool
    assert types(bn.blocks[0]) == [nn.Conv2d, nn.BatchNorm2d, nn.Tanh, nn.MaxPool2d]
    assert types(bn.blocks[1]) == [nn.Conv2d, nn.BatchNorm2d, nn.Tanh, nn.MaxPool2d]
    assert types(bn.blocks[2]) == [nn.Flatten, nn.Linear, nn.Tanh, nn.BatchNorm1d]
    for index, width in enumerate([2704, 800, 1000]):
        model = CNN(whiten_after=index)
        whitens = [(i, m) for i, block in enumerate(model.blocks) for m in block if isinstance(m, Whiten)]
        assert [(i, m.num_features) for i, m in whitens] == [(index, width)]
    torch.manual_seed(0)
    model = CNN(whiten_after=1)
    model.train()
    hidden, logits = model.hidden(images(8))
    assert [h.shape[1] for h in hidden] == model.widths and logits.shape == (8, 10)


def test_bad_arguments_raise() -> None:
    for kwargs in [dict(widths=[]), dict(widths=[10, 0]), dict(activation="sigmoid"), dict(whiten_after=1),
                   dict(whiten_after=-1)]:
        with pytest.raises(ValueError):
            MLP(**kwargs)
    for kwargs in [dict(whiten_after=3), dict(activation="gelu")]:
        with pytest.raises(ValueError):
            CNN(**kwargs)
    with pytest.raises(ValueError):
        build_model("resnet")
    assert isinstance(build_model("mlp", widths=[5]), MLP) and isinstance(build_model("cnn"), CNN)


def test_capture_on_an_arbitrary_sequential() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 12 * 12, 7),
                        nn.Tanh(), nn.Linear(7, 2))
    x = images(5, seed=3)
    with capture([net[5], net[2], net[0]]) as feats:
        out = net(x)
    assert len(feats) == 3
    conv = net[0](x)
    pooled = net[2](net[1](conv))
    tanh = net[5](net[4](net[3](pooled)))
    torch.testing.assert_close(feats[0], tanh, rtol=0, atol=0)
    torch.testing.assert_close(feats[1], pooled.reshape(5, -1), rtol=0, atol=0)
    torch.testing.assert_close(feats[2], conv.reshape(5, -1), rtol=0, atol=0)
    torch.testing.assert_close(out, net[6](tanh), rtol=0, atol=0)
    # captured features stay in the graph
    feats[1].sum().backward()
    assert net[0].weight.grad is not None and net[4].weight.grad is None
    # hooks are removed afterwards: a later forward leaves the list alone
    net(x)
    assert len(feats) == 3 and len(net[0]._forward_hooks) == 0


def test_capture_errors() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    unused = nn.Linear(3, 3)
    with pytest.raises(RuntimeError, match="did not run"):
        with capture([net[0], unused]):
            net(torch.randn(2, 3))
    assert len(unused._forward_hooks) == 0
    with pytest.raises(ValueError):
        with capture([]):
            pass
