"""Candidate operations of the DARTS and NAS-Bench-201 cells.

Written after the DARTS paper's Sec. 3 and the NAS-Bench-201 definitions;
``affine=False`` batch norm is what both use inside supernets (the
architecture weights, not BN's scale, should decide an op's contribution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasplug.spaces.grouped_conv import GroupedConv2d


class ReLUConvBN(nn.Module):
    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool = True,
                 dilation: int = 1, track_running_stats: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depthwise dilated conv, pointwise conv, BN.

    The depthwise conv is a :class:`GroupedConv2d`: a plain ``nn.Conv2d``
    except under ``second_order_graph()``, where its double backward is cheap.
    """

    def __init__(self, C_in, C_out, kernel, stride, padding, dilation, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            GroupedConv2d(C_in, C_in, kernel, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked DilConv(dilation=1): the DARTS separable convolution."""

    def __init__(self, C_in, C_out, kernel, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel, 1, padding, 1, affine),
        )

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, stride: int = 1, C_out: int | None = None):
        super().__init__()
        self.stride, self.C_out = stride, C_out

    def forward(self, x):
        out = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.C_out is not None and self.C_out != x.shape[1]:
            shape = (out.shape[0], self.C_out) + tuple(out.shape[2:])
            return out.new_zeros(shape)
        return out.mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve resolution with two offset stride-2 1x1 convs (works for odd sizes too)."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Pool(nn.Module):
    """3x3 max/avg pooling; DARTS's supernet follows it with an affine-free BN."""

    def __init__(self, kind: str, stride: int, bn_channels: int | None = None):
        super().__init__()
        if kind == "avg":
            self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        else:
            self.pool = nn.MaxPool2d(3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(bn_channels, affine=False) if bn_channels else None

    def forward(self, x):
        out = self.pool(x)
        return self.bn(out) if self.bn is not None else out


DARTS_OPS = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)


def darts_op(name: str, C: int, stride: int, affine: bool, in_supernet: bool = False) -> nn.Module:
    """Build one DARTS candidate op with ``C`` channels in and out."""
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(name[:3], stride, C if in_supernet else None)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
    if name.startswith("sep_conv_"):
        k = int(name[-1])
        return SepConv(C, C, k, stride, k // 2, affine)
    if name.startswith("dil_conv_"):
        k = int(name[-1])
        return DilConv(C, C, k, stride, k - 1, 2, affine)
    raise ValueError(f"unknown DARTS op {name!r}; allowed: {', '.join(DARTS_OPS)}")


NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def nb201_op(name: str, C: int, affine: bool, track_running_stats: bool = True) -> nn.Module:
    """Build one NAS-Bench-201 op (stride 1, C channels)."""
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, affine, track_running_stats=track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, affine, track_running_stats=track_running_stats)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}; allowed: {', '.join(NB201_OPS)}")


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Zero whole examples of a branch with probability ``drop_prob`` (DARTS/NASNet drop-path)."""
    if not training or drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.bernoulli(torch.full((x.size(0), 1, 1, 1), keep, device=x.device, dtype=x.dtype))
    return x / keep * mask
