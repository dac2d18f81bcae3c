"""Convolutional networks for the CNN lecture, compact and commented with tensor shapes.

Every model takes ``in_channels``, ``n_classes`` and ``image_size`` (an int for square images
or ``(H, W)``) and outputs logits (n, n_classes). The same four run on 28x28 MNIST and on 8x8
scikit-learn digits *without upsampling*: the width of the first linear layer is measured by
one dry forward pass of zeros at construction, the VGG and ResNet end in global average
pooling, and LeNet-5's second convolution pads ("same") on inputs under 20 pixels, where a
valid 5x5 convolution after one pooling would leave (almost) nothing. Shape comments below
are for 1x28x28 inputs.

- ``cnn``: the lecture's two-layer CNN (12 and 24 channels, 3x3, padding 1, 2x2 max-pool).
- ``lenet5``: LeCun et al. 1998, with ReLU and max-pooling (the modern variant).
- ``vgg``: a small VGG-style stack (Simonyan & Zisserman 2015): 3x3 conv pairs, pooling.
- ``resnet``: a small ResNet (He et al. 2016): basic residual blocks with batch norm.

:func:`build_model` looks a name up in :data:`MODELS` and initialises it from a seed (inside
:func:`~qmml.supervised.deep.trainer.torch_seed`, so torch's global generator is untouched).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from qmml.supervised.deep.trainer import torch_seed

__all__ = [
    "MODELS",
    "LeNet5",
    "LectureCNN",
    "SmallResNet",
    "SmallVGG",
    "build_model",
    "count_parameters",
]

ImageSize = int | tuple[int, int]


def _hw(image_size: ImageSize) -> tuple[int, int]:
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if h < 4 or w < 4:
        raise ValueError(f"image_size must be at least 4x4, got {image_size}")
    return int(h), int(w)


def _flat_width(features: nn.Module, in_channels: int, image_size: ImageSize) -> int:
    """Entries per image after ``features``: one dry pass of zeros (no randomness)."""
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, *_hw(image_size))).numel()


class LectureCNN(nn.Module):
    """The lecture's CNN: two conv(3x3, padding 1) -> ReLU -> max-pool(2) stages, then linear."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: ImageSize = 28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 12, 3, padding=1),  # (n, 12, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 12, 14, 14)
            nn.Conv2d(12, 24, 3, padding=1),  # (n, 24, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 24, 7, 7)
            nn.Flatten(),  # (n, 1176)
        )
        self.head = nn.Linear(_flat_width(self.features, in_channels, image_size), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (n, n_classes)


class LeNet5(nn.Module):
    """LeNet-5: conv5(6) -> pool -> conv5(16) -> pool -> 120 -> 84 -> classes (ReLU, max-pool).

    The first convolution pads by 2, so 28x28 MNIST sees the 32x32 field of the original.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: ImageSize = 28):
        super().__init__()
        small = min(_hw(image_size)) < 20  # e.g. 8x8 digits: keep the second conv "same"
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),  # (n, 6, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 6, 14, 14)
            nn.Conv2d(6, 16, 5, padding=2 if small else 0),  # (n, 16, 10, 10)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 16, 5, 5)
            nn.Flatten(),  # (n, 400)
        )
        self.head = nn.Sequential(
            nn.Linear(_flat_width(self.features, in_channels, image_size), 120),  # (n, 120)
            nn.ReLU(),
            nn.Linear(120, 84),  # (n, 84)
            nn.ReLU(),
            nn.Linear(84, n_classes),  # (n, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SmallVGG(nn.Module):
    """VGG-style: blocks of two 3x3 convs (+ ReLU) and a 2x2 max-pool; global average pool;
    linear. ``widths`` gives one block each; three blocks keep 8x8 inputs at least 1x1."""

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        image_size: ImageSize = 28,
        widths: tuple[int, ...] = (32, 64, 128),
    ):
        super().__init__()
        if 2 ** len(widths) > min(_hw(image_size)):
            raise ValueError(
                f"{len(widths)} pooling blocks need images of at least "
                f"{2 ** len(widths)} pixels, got {image_size}"
            )
        layers: list[nn.Module] = []
        c = in_channels
        for width in widths:  # 28 -> 14 -> 7 -> 3 (8 -> 4 -> 2 -> 1)
            layers += [
                nn.Conv2d(c, width, 3, padding=1),  # (n, width, s, s)
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # (n, width, s/2, s/2)
            ]
            c = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # (n, 128, 1, 1)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))  # (n, n_classes)


class _BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN plus the input (projected by a 1x1 conv when the shape changes),
    then ReLU (He et al. 2016, fig. 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))  # (n, c_out, s/stride, s/stride)
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small ResNet: 3x3 stem, one basic block per width (stride 2 from the second on),
    global average pool, linear."""

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        image_size: ImageSize = 28,
        widths: tuple[int, ...] = (16, 32, 64),
    ):
        super().__init__()
        _hw(image_size)  # validates; the global pool makes any size >= 4 work
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),  # (n, 16, 28, 28)
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks, c = [], widths[0]
        for i, width in enumerate(widths):  # 28 -> 28 -> 14 -> 7
            blocks.append(_BasicBlock(c, width, stride=1 if i == 0 else 2))
            c = width
        self.blocks = nn.Sequential(*blocks)  # (n, 64, 7, 7)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> (n, n_classes)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "cnn": LectureCNN,
    "lenet5": LeNet5,
    "vgg": SmallVGG,
    "resnet": SmallResNet,
}


def build_model(
    name: str,
    *,
    in_channels: int = 1,
    n_classes: int = 10,
    image_size: ImageSize = 28,
    seed: int = 0,
) -> nn.Module:
    """The model ``name`` from :data:`MODELS`, initialised from ``seed`` (same seed, same
    weights; torch's global generator is left as it was).

    Raises:
        ValueError: an unknown name, or sizes the model cannot take.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if in_channels < 1 or n_classes < 2:
        raise ValueError(
            f"need in_channels >= 1 and n_classes >= 2, got {in_channels}, {n_classes}"
        )
    with torch_seed(seed):
        return MODELS[name](in_channels=in_channels, n_classes=n_classes, image_size=image_size)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
