"""Reading hidden representations out of any ``nn.Module`` with forward hooks, and running a module in eval mode
without losing any submodule's own training flag."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn


@contextmanager
def capture(modules: Sequence[nn.Module]) -> Iterator[list[Tensor]]:
    """Collect the outputs of ``modules`` during the forward passes run inside the ``with`` block.

    Each output is flattened to [B, N] (so conv feature maps become vectors) and kept in the graph, so a penalty on
    it backpropagates into the network. After one forward pass the list holds one tensor per module, in the order
    given::

        with onen.capture([model.fc1, model.fc2]) as feats:
            logits = model(x)
        h1, h2 = feats
    """
    if not modules:
        raise ValueError("capture needs at least one module")
    outputs: dict[int, Tensor] = {}
    handles = []
    for index, module in enumerate(modules):
        def hook(_module: nn.Module, _inputs, output: Tensor, index: int = index) -> None:
            outputs[index] = output.reshape(output.shape[0], -1)
        handles.append(module.register_forward_hook(hook))
    features: list[Tensor] = []
    try:
        yield features
    finally:
        for handle in handles:
            handle.remove()
    # fill the list the caller holds only once the forward pass has run
    missing = [i for i in range(len(modules)) if i not in outputs]
    if missing:
        raise RuntimeError(f"modules {missing} did not run during the forward pass inside capture()")
    features.extend(outputs[i] for i in range(len(modules)))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode; restore each one's own training flag on exit, even on an exception (a
    submodule deliberately left in eval mode inside a model in training mode, e.g. a frozen BatchNorm, stays so)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
