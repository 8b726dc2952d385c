"""A chain of layers, each choosing one operation: the smallest useful search space.

It shows everything a space must provide: decisions, a weight-sharing
supernet whose forward takes selections, a child network per genotype, a
derivation rule and genotype (de)serialisation.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import torch
from torch import nn

from nasplug import Decision, Genotype, GenotypeError, SearchSpace, Supernet, apply_selection

OPS = ("conv_3x3", "conv_5x5", "dw_sep_3x3", "max_pool_3x3", "skip_connect")


def make_op(name: str, C: int, stride: int) -> nn.Module:
    if name in ("conv_3x3", "conv_5x5"):
        k = int(name[-1])
        return nn.Sequential(nn.Conv2d(C, C, k, stride, k // 2, bias=False), nn.BatchNorm2d(C), nn.ReLU())
    if name == "dw_sep_3x3":
        return nn.Sequential(nn.Conv2d(C, C, 3, stride, 1, groups=C, bias=False), nn.Conv2d(C, C, 1, bias=False),
                             nn.BatchNorm2d(C), nn.ReLU())
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else nn.AvgPool2d(2, 2, ceil_mode=True)
    raise GenotypeError(f"unknown chain op {name!r}; allowed: {', '.join(OPS)}")


@attrs.frozen
class ChainGenotype(Genotype):
    ops: tuple[str, ...] = attrs.field(converter=tuple)

    def __str__(self) -> str:
        return " > ".join(self.ops)

    def to_json(self) -> list[str]:
        return list(self.ops)


class ChainNet(Supernet):
    def __init__(self, C: int, in_channels: int, num_classes: int, ops_per_layer):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())
        middle = len(ops_per_layer) // 2
        self.layers = nn.ModuleList(
            nn.ModuleList(make_op(op, C, 2 if i == middle else 1) for op in ops)
            for i, ops in enumerate(ops_per_layer)
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, num_classes))

    def forward(self, x, selections: Mapping[str, Any] | None = None):
        x = self.stem(x)
        for i, ops in enumerate(self.layers):
            x = ops[0](x) if selections is None else apply_selection(ops, x, selections[f"layer{i}"])
        return self.head(x)


class ChainChild(nn.Module):
    def __init__(self, net: ChainNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


@attrs.frozen
class ChainSpace(SearchSpace):
    name = "chain"
    #: small options for the conformance kit (nasplug.testing): builds and runs in milliseconds
    test_options = {"layers": 3, "C": 4}
    layers: int = attrs.field(default=4)
    C: int = attrs.field(default=16)

    @layers.validator
    @C.validator
    def _positive(self, attribute, value):
        if not isinstance(value, int) or value < 1:
            from nasplug import ConfigError

            raise ConfigError(f"ChainSpace.{attribute.name} must be a positive integer, got {value!r}")

    @property
    def decisions(self):
        return tuple(Decision(f"layer{i}", OPS) for i in range(self.layers))

    def build_supernet(self, input_shape, num_classes):
        return ChainNet(self.C, input_shape[0], num_classes, [OPS] * self.layers)

    def build_child(self, genotype, input_shape, num_classes, **_):
        genotype = self.genotype_from_json(genotype)
        return ChainChild(ChainNet(self.C, input_shape[0], num_classes, [[op] for op in genotype.ops]))

    def derive(self, probabilities):
        return ChainGenotype(OPS[int(torch.as_tensor(probabilities[f"layer{i}"]).argmax())] for i in range(self.layers))

    def genotype_from_choices(self, choices):
        return ChainGenotype(OPS[int(choices[f"layer{i}"])] for i in range(self.layers))

    def choices_from_genotype(self, genotype):
        genotype = self.genotype_from_json(genotype)
        return {f"layer{i}": OPS.index(op) for i, op in enumerate(genotype.ops)}

    def genotype_from_json(self, data):
        ops = data.ops if isinstance(data, ChainGenotype) else tuple(data)
        if len(ops) != self.layers or any(op not in OPS for op in ops):
            raise GenotypeError(f"a chain genotype lists {self.layers} ops from {', '.join(OPS)}; got {list(ops)!r}")
        return ChainGenotype(ops)
