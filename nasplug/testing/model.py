"""A tiny user-style model with every kind of choice, for the conformance kit and the tests of nasplug.nn."""

from __future__ import annotations

import torch
from torch import nn

from nasplug import nn as snn


class TinyBlock(nn.Module):
    """conv-BN-ReLU whose width and kernel are choices, with a residual input choice."""

    def __init__(self, width: snn.ValueChoice, kernel: snn.ValueChoice):
        super().__init__()
        self.conv = snn.MutableConv2d(width, width, kernel, bias=False)
        self.bn = snn.MutableBatchNorm2d(width)
        self.merge = snn.InputChoice(2, 1, "sum")

    def forward(self, x):
        out = torch.relu(self.bn(self.conv(x)))
        return self.merge([out, out + x])


class TinyChoiceNet(nn.Module):
    """Stem width, an op choice, a repeated block of chosen depth, each block's kernel: all four kinds."""

    input_shape = (1, 8, 8)

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        width = snn.ValueChoice([4, 8], label="width")
        self.stem = snn.MutableConv2d(in_channels, width, 3, bias=False)
        self.stem_bn = snn.MutableBatchNorm2d(width)
        self.op = snn.LayerChoice({"conv3": snn.MutableConv2d(width, width, 3),
                                   "pool": nn.MaxPool2d(3, 1, 1),
                                   "skip": nn.Identity()})
        self.blocks = snn.Repeat(lambda i: TinyBlock(width, snn.ValueChoice([1, 3])), depth=(0, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = snn.MutableLinear(width, num_classes)

    def forward(self, x):
        x = torch.relu(self.stem_bn(self.stem(x)))
        x = self.blocks(self.op(x))
        return self.classifier(self.pool(x).flatten(1))
