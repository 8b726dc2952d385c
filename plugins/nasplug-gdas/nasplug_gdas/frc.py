"""GDAS's fixed reduction cell (FRC, Sec. 3.3 and Fig. 3) and the ``darts-frc`` space.

Fig. 3: each of the two cell inputs goes through a factorised strided
convolution (ReLU, 1x3 conv with 1x2 stride, 3x1 conv with 2x1 stride, BN,
ReLU, 1x1 conv, BN) and through a 3x3 max pool with stride 2 (then BN); the
four results are concatenated (multiplier 4, as a searched cell).

Two versions exist in the authors' code.  The 2019 evaluation code pools
``X0 + X1`` (the two conv branches) with stride 1 in the third branch; the
2020 search code pools ``s0`` with stride 2.  We implement the 2020 one: it
is what the authors searched with (one conv and one pool branch per input,
all four strided).  The strided convs are grouped (8 groups in
the authors' code); here ``groups = gcd(8, C)`` so small test widths work.
"""

from __future__ import annotations

import math

import attrs
import torch
from torch import nn

from nasplug.errors import ConfigError
from nasplug.spaces.darts import DartsSpace
from nasplug.spaces.ops import FactorizedReduce, ReLUConvBN, drop_path


def _factorised_strided_conv(C: int, affine: bool) -> nn.Module:
    groups = math.gcd(8, C)
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(C, C, (1, 3), stride=(1, 2), padding=(0, 1), groups=groups, bias=False),
        nn.Conv2d(C, C, (3, 1), stride=(2, 1), padding=(1, 0), groups=groups, bias=False),
        nn.BatchNorm2d(C, affine=affine),
        nn.ReLU(inplace=False),
        nn.Conv2d(C, C, 1, bias=False),
        nn.BatchNorm2d(C, affine=affine),
    )


def _strided_max_pool(C: int, affine: bool) -> nn.Module:
    return nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), nn.BatchNorm2d(C, affine=affine))


class FixedReductionCell(nn.Module):
    """The hand-designed reduction cell of Fig. 3 (2020 search-time version).

    ``forward(s0, s1, drop_prob=0.0)`` halves the resolution and emits 4*C channels.
    """

    multiplier = 4

    def __init__(self, C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool = True):
        super().__init__()
        self.reduction = True
        self.pre0 = FactorizedReduce(C_pp, C, affine) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, affine)
        self.pre1 = ReLUConvBN(C_p, C, 1, 1, 0, affine)
        self.conv0 = _factorised_strided_conv(C, affine)
        self.conv1 = _factorised_strided_conv(C, affine)
        self.pool0 = _strided_max_pool(C, affine)
        self.pool1 = _strided_max_pool(C, affine)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        s0, s1 = self.pre0(s0), self.pre1(s1)
        branches = [self.conv0(s0), self.conv1(s1), self.pool0(s0), self.pool1(s1)]
        branches = [drop_path(b, drop_prob, self.training) for b in branches]
        return torch.cat(branches, dim=1)


def _no_reduction_search(instance, attribute, value):
    if value:
        raise ConfigError("darts-frc fixes the reduction cell (search_reduction must be false); "
                          "use the 'darts' space to search the reduction cell too")


@attrs.frozen
class DartsFRCSpace(DartsSpace):
    """The DARTS CNN space with GDAS's fixed reduction cell: only the normal cell is searched (GDAS (FRC))."""

    name = "darts-frc"
    search_reduction: bool = attrs.field(default=False, validator=_no_reduction_search)

    def fixed_reduction_cell(self, C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool) -> nn.Module:
        return FixedReductionCell(C_pp, C_p, C, reduction_prev, affine)
