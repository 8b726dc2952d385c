"""A small ResNet-style CIFAR network of a user's own, with the places to search marked.

Four things are searched: the op of every residual block (a plain 3x3-style
conv pair or a depthwise-separable pair), the kernel size of that op, the
width of each stage, and how many blocks each stage has.  Everything else is
ordinary PyTorch; ``nasplug.nn.model_space(CifarResNet)`` turns it into a
search space.
"""

from __future__ import annotations

import torch
from torch import nn

from nasplug import nn as snn


def conv_bn(c_in, c_out, kernel, stride=1, groups=1):
    return nn.Sequential(snn.MutableConv2d(c_in, c_out, kernel, stride, groups=groups, bias=False),
                         snn.MutableBatchNorm2d(c_out))


class ResidualBlock(nn.Module):
    """relu(op(x) + x), the op chosen among two, its kernel chosen among 3 and 5."""

    def __init__(self, width: snn.ValueChoice):
        super().__init__()
        kernel = snn.ValueChoice([3, 5])  # one decision shared by both candidate ops
        self.op = snn.LayerChoice({
            "conv": nn.Sequential(conv_bn(width, width, kernel), nn.ReLU(), conv_bn(width, width, kernel)),
            "sepconv": nn.Sequential(conv_bn(width, width, kernel, groups=width), conv_bn(width, width, 1),
                                     nn.ReLU(), conv_bn(width, width, kernel, groups=width), conv_bn(width, width, 1)),
        })
        self.shortcut = snn.InputChoice(2, 1, "sum")  # keep the identity shortcut or not

    def forward(self, x):
        out = self.op(x)
        return torch.relu(self.shortcut([out, out + x]))


class CifarResNet(nn.Module):
    """stem -> stage 1 (1-3 blocks) -> stride-2 conv -> stage 2 (1-3 blocks) -> pool -> classifier."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        w1 = snn.ValueChoice([16, 24, 32], label="width1")
        w2 = snn.ValueChoice([32, 48, 64], label="width2")
        self.stem = nn.Sequential(conv_bn(in_channels, w1, 3), nn.ReLU())
        self.stage1 = snn.Repeat(lambda i: ResidualBlock(w1), depth=(1, 3), label="depth1")
        self.down = nn.Sequential(conv_bn(w1, w2, 3, stride=2), nn.ReLU())
        self.stage2 = snn.Repeat(lambda i: ResidualBlock(w2), depth=(1, 3), label="depth2")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = snn.MutableLinear(w2, num_classes)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.classifier(self.pool(x).flatten(1))
