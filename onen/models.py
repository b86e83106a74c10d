"""The paper's networks: a configurable MLP, the small CNN, and the CIFAR-10 CNN of the authors' rebuttal.

Both are a stack of *blocks* followed by a linear *head*. A block's output is a hidden representation: the thing whose
covariance spectrum the book measures and the spectral regularizer shapes. ``model.blocks`` lists the blocks, so any
code that works with a list of modules (``onen.capture``, ``onen.SpectralRegularizer``) works with these models, and
with any other ``nn.Module`` given the modules whose outputs it should look at.

``forward`` returns logits only, so attack libraries can wrap the models unchanged.
"""

from __future__ import annotations

import math

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from onen.features import capture
from onen.shaping import SpectrumShaping
from onen.whiten import Whiten

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
ACTIVATIONS = tuple(_ACTIVATIONS)


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


def _normalisers(width: int, batchnorm: bool, whiten: bool, whiten_eps: float,
                 shape: tuple[float, int] | None = None) -> list[nn.Module]:
    """BatchNorm, whitening and/or spectrum shaping (``shape`` = (alpha, tau)) applied after the activation (the
    paper's placement of whitening in the MLPs)."""
    layers: list[nn.Module] = []
    if batchnorm:
        layers.append(nn.BatchNorm1d(width))
    if whiten:
        layers.append(Whiten(width, eps=whiten_eps))
    if shape is not None:
        layers.append(SpectrumShaping(width, alpha=shape[0], tau=shape[1]))
    return layers


class Classifier(nn.Module):
    """Blocks, then a linear head. Subclasses fill ``self.blocks`` and ``self.head``."""

    blocks: nn.ModuleList
    head: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, 1, 28, 28] (or [B, 784]) in [0, 1] -> logits [B, n_classes]."""
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def hidden(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """Hidden representations, each flattened to [B, N_l], and the logits [B, n_classes]."""
        with capture(list(self.blocks)) as features:
            logits = self(x)
        return list(features), logits

    @property
    def widths(self) -> list[int]:
        """N_l of each block's (flattened) output."""
        return list(self._widths)


class MLP(Classifier):
    """Fully connected net: in_features -> widths[0] -> ... -> widths[-1] -> n_classes.

    Args:
        widths: hidden widths, e.g. [2000] (the paper's shallow net) or [1000, 1000, 1000].
        activation: "tanh" or "relu".
        batchnorm: BatchNorm1d after every hidden activation.
        whiten_after: index of the hidden layer (0-based) whose output is whitened, or None.
        whiten_eps: the whitening layer's jitter (see :class:`~onen.whiten.Whiten`).
        shape_after: index of the hidden layer whose output is shaped to Eq. 2's target spectrum
            (:class:`~onen.shaping.SpectrumShaping`), or None; shape_alpha, shape_tau: its exponent and kept ranks.
    """

    def __init__(self, widths: Sequence[int] = (2000,), in_features: int = 784, n_classes: int = 10,
                 activation: str = "tanh", batchnorm: bool = False, whiten_after: int | None = None,
                 whiten_eps: float = 1e-5, shape_after: int | None = None, shape_alpha: float = 1.0,
                 shape_tau: int = 10) -> None:
        super().__init__()
        if not widths or any(w <= 0 for w in widths):
            raise ValueError(f"widths must be a non-empty list of positive ints, got {widths}")
        if whiten_after is not None and not 0 <= whiten_after < len(widths):
            raise ValueError(f"whiten_after={whiten_after} is not a hidden layer index (0..{len(widths) - 1})")
        if shape_after is not None and not 0 <= shape_after < len(widths):
            raise ValueError(f"shape_after={shape_after} is not a hidden layer index (0..{len(widths) - 1})")
        blocks = []
        fan_in = in_features
        for index, width in enumerate(widths):
            layers: list[nn.Module] = [nn.Flatten()] if index == 0 else []
            layers += [nn.Linear(fan_in, width), _activation(activation)]
            layers += _normalisers(width, batchnorm, whiten_after == index, whiten_eps,
                                   (shape_alpha, shape_tau) if shape_after == index else None)
            blocks.append(nn.Sequential(*layers))
            fan_in = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(fan_in, n_classes)
        self._widths = list(widths)


CNN_WIDTHS = (16 * 13 * 13, 32 * 5 * 5, 1000)  # the CNN's blocks, flattened, at the default fc_width


class CNN(Classifier):
    """The paper's small CNN for 1x28x28 inputs.

    conv3x3 1->16, activation, maxpool 2 (-> 16x13x13) | conv3x3 16->32, activation, maxpool 2 (-> 32x5x5 = 800) |
    FC 800 -> 1000, activation | head 1000 -> n_classes. Three blocks, so three hidden representations
    (2704, 800 and 1000 wide once flattened).

    Args:
        activation: "tanh" or "relu".
        batchnorm: BatchNorm in every block; in the conv blocks between the convolution and the activation
            (conv -> BN -> activation -> pool, the authors' order), in the FC block after the activation.
        whiten_after: block index (0, 1 or 2) whose flattened output is whitened, or None.
        whiten_eps: the whitening layer's jitter.
    """

    def __init__(self, n_classes: int = 10, activation: str = "tanh", batchnorm: bool = False,
                 whiten_after: int | None = None, fc_width: int = 1000, whiten_eps: float = 1e-5) -> None:
        super().__init__()
        if whiten_after is not None and whiten_after not in (0, 1, 2):
            raise ValueError(f"whiten_after must be 0, 1, 2 or None, got {whiten_after}")
        widths = [16 * 13 * 13, 32 * 5 * 5, fc_width]

        def conv_block(index: int, c_in: int, c_out: int) -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3)]
            layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
            layers += [_activation(activation), nn.MaxPool2d(2)]
            if whiten_after == index:
                side = [13, 13] if index == 0 else [5, 5]
                layers += [nn.Flatten(), Whiten(widths[index], eps=whiten_eps), nn.Unflatten(1, (c_out, *side))]
            return nn.Sequential(*layers)

        fc: list[nn.Module] = [nn.Flatten(), nn.Linear(widths[1], fc_width), _activation(activation)]
        fc += _normalisers(fc_width, batchnorm, whiten_after == 2, whiten_eps)
        self.blocks = nn.ModuleList([conv_block(0, 1, 16), conv_block(1, 16, 32), nn.Sequential(*fc)])
        self.head = nn.Linear(fc_width, n_classes)
        self._widths = widths


# Per-channel mean and standard deviation of the CIFAR-10 training pixels (the lossless original, all 50000 images,
# standard deviation over all pixels of a channel). They are constants of the architecture, not estimated from the
# data a run trains on, so every network, whatever its training subset, sees its inputs scaled the same way.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR_CHANNELS = (32, 64, 128)


class Normalise(nn.Module):
    """Fixed per-channel standardisation (x - mean) / std of [B, C, H, W] images: a first layer without parameters.

    Folding it into the model keeps the model's inputs, and so every attack's eps-ball and clipping, in [0, 1] pixels.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not mean:
            raise ValueError(f"mean and std need one entry per channel, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def cifar_widths(channels: Sequence[int] = CIFAR_CHANNELS, side: int = 32) -> list[int]:
    """N_l of each block of :class:`CifarCNN` once flattened: channels[l] x (side / 2^(l+1))^2."""
    return [c * (side >> (index + 1)) ** 2 for index, c in enumerate(channels)]


class CifarCNN(Classifier):
    """The CNN for 3x32x32 CIFAR-10 images that the authors added in their rebuttal.

    A fixed :class:`Normalise` layer, then three blocks, each conv3x3 (padding 1) -> activation -> conv3x3
    (padding 1) -> activation -> maxpool 2, with ``channels`` (32, 64, 128) output channels (-> 32x16x16, 64x8x8,
    128x4x4), then a linear head from the flattened last block to ``n_classes``. ``model.blocks`` are the three
    blocks; their outputs, flattened (8192, 4096 and 2048 wide at the default channels), are the hidden
    representations. Inputs: [B, 3, 32, 32] in [0, 1].
    """

    def __init__(self, channels: Sequence[int] = CIFAR_CHANNELS, n_classes: int = 10, activation: str = "tanh",
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD) -> None:
        super().__init__()
        channels = list(channels)
        if len(channels) != 3 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be three positive integers, got {channels!r}")
        self.normalise = Normalise(mean, std)
        blocks, c_in = [], len(mean)
        for c_out in channels:
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), _activation(activation),
                                        nn.Conv2d(c_out, c_out, 3, padding=1), _activation(activation),
                                        nn.MaxPool2d(2)))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * 4 * 4, n_classes))
        self._widths = cifar_widths(channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, 3, 32, 32] in [0, 1] -> logits [B, n_classes]."""
        return super().forward(self.normalise(x))


def build_model(arch: str, **kwargs) -> Classifier:
    """Build "mlp", "cnn" or "cifar_cnn" from keyword options (as stored in an experiment config)."""
    if arch == "mlp":
        return MLP(**kwargs)
    if arch == "cnn":
        return CNN(**kwargs)
    if arch == "cifar_cnn":
        return CifarCNN(**kwargs)
    raise ValueError(f"arch must be 'mlp', 'cnn' or 'cifar_cnn', got {arch!r}")


class _Scale(nn.Module):
    """A parametrization that multiplies a weight by a constant."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.factor


def spectrally_normalised(model: nn.Module, target: float) -> nn.Module:
    """``model`` with every linear and convolutional weight divided by its largest singular value (PyTorch's own
    :func:`torch.nn.utils.parametrizations.spectral_norm`, one power iteration per training forward pass) and
    multiplied by ``target``: each such layer's operator norm is ``target`` (for a convolution, that of its weight
    matrix, as in Miyato et al. 2018), so with 1-Lipschitz activations the network's Lipschitz bound is a product of
    ``target`` per layer. Returns the same module, changed in place."""
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target) or target <= 0:
        raise ValueError(f"the spectral-norm target must be a finite number > 0, got {target!r}")
    for module in [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]:
        torch.nn.utils.parametrizations.spectral_norm(module)
        if target != 1:
            torch.nn.utils.parametrize.register_parametrization(module, "weight", _Scale(target))
    return model


class PerImageStandardise(nn.Module):
    """Each image standardised over its own pixels: (x - mean) / max(std, 1 / sqrt(D)), D the image's number of
    values and std the population standard deviation (TensorFlow's ``per_image_standardization``; the floor keeps a
    uniform image finite). A first layer without parameters, so the model's inputs, and every attack's eps-ball and
    clipping, stay in [0, 1] pixels, and the attacks differentiate through the standardisation."""

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        mean = flat.mean(dim=1, keepdim=True)
        std = flat.std(dim=1, unbiased=False, keepdim=True)
        return ((flat - mean) / torch.clamp(std, min=flat.shape[1] ** -0.5)).view_as(x)


def per_image_standardised(model: Classifier) -> Classifier:
    """``model`` with :class:`PerImageStandardise` put in front of its first block (so the block's output, the first
    hidden representation, is still what ``model.blocks[0]`` returns). Returns the same module, changed in place."""
    if not isinstance(model, Classifier) or len(model.blocks) == 0:
        raise ValueError(f"per-image standardisation needs a Classifier with blocks, got {type(model).__name__}")
    model.blocks[0] = nn.Sequential(PerImageStandardise(), model.blocks[0])
    return model
