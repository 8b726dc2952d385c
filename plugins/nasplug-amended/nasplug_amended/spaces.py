"""The edge-fixed DARTS spaces of Amended-DARTS (Bi et al., 2019, Sec. 4.1.2-4.1.3).

* ``darts-s1``: DARTS's cell with fixed edges: intermediate node i takes
  node i-1 and c_{k-2} (node 0), 8 edges per cell, all kept at derivation
  (no edge removal, so search and evaluation cells match); the 7 DARTS ops
  without ``none`` (7^16 = 3.3e13 architectures, the paper's count); normal
  cells share alpha, reduction cells share alpha.
* ``darts-s2``: the same edges, ops {skip_connect, sep_conv_3x3}, its own
  alpha per cell, 20 cells (2^160 = 1.5e48 architectures).

Both carry the search-stage switches of the consistency change (Sec. 4.1.2):
``cutout`` (square side in pixels, 0 = off), ``drop_path`` (final drop-path
probability of the op branches, ramped linearly as in DARTS's retraining)
and ``auxiliary_weight`` (> 0 adds the auxiliary tower at 2/3 depth and its
weighted loss).  This plugin's architecture optimizers apply them in their
weight steps (:mod:`nasplug_amended.search_stage`).
"""

from __future__ import annotations

from typing import Any

import attrs

from nasplug.config import positive_int
from nasplug.errors import ConfigError
from nasplug.spaces.darts import (AuxiliaryHead, DartsSpace, DartsSupernet, SearchCell, alpha_scope_validator,
                                  ops_validator)
from nasplug.spaces.ops import DARTS_OPS

S1_OPS = tuple(op for op in DARTS_OPS if op != "none")
S2_OPS = ("skip_connect", "sep_conv_3x3")


class RegularisedDartsSupernet(DartsSupernet):
    """A DARTS supernet that can drop op branches and emit auxiliary logits during the search."""

    def __init__(self, space: "EdgeFixedDartsSpace", in_channels: int, num_classes: int):
        super().__init__(space, in_channels, num_classes)
        self.drop_path_prob = 0.0  # switched on by the weight step only
        self.aux_layer = 2 * space.layers // 3
        self.auxiliary_head = None
        self.aux_logits = None
        if space.auxiliary_weight > 0:
            cell = self.cells[self.aux_layer]
            channels = cell.pre1.op[1].out_channels * space.steps
            self.auxiliary_head = AuxiliaryHead(channels, num_classes)

    def forward(self, x, selections):
        s0 = s1 = self.stem(x)
        self.aux_logits = None
        drop = self.drop_path_prob if self.training else 0.0
        for layer, cell in enumerate(self.cells):
            out = cell(s0, s1, selections, drop) if isinstance(cell, SearchCell) else cell(s0, s1)
            s0, s1 = s1, out
            if self.auxiliary_head is not None and self.training and layer == self.aux_layer:
                self.aux_logits = self.auxiliary_head(s1)
        return self.classifier(self.pool(s1).flatten(1))


def _non_negative_int(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be an integer >= 0, got {value!r}")


def _probability(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be in [0, 1), got {value!r}")


def _non_negative(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}")


def _fixed_edges(instance, attribute, value):
    if value is not None:
        raise ConfigError(f"{type(instance).__name__} has fixed edges and keeps all of them: keep_edges must be "
                          f"None, got {value!r}")


@attrs.frozen
class EdgeFixedDartsSpace(DartsSpace):
    """DARTS cells wired node i <- {node i-1, c_{k-2}}; every edge kept."""

    name = "darts-edge-fixed"
    ops: tuple[str, ...] = attrs.field(default=S1_OPS, converter=tuple, validator=ops_validator)
    keep_edges: int | None = attrs.field(default=None, validator=_fixed_edges)
    cutout: int = attrs.field(default=0, validator=_non_negative_int)
    drop_path: float = attrs.field(default=0.0, validator=_probability)
    auxiliary_weight: float = attrs.field(default=0.0, validator=_non_negative)

    def candidate_inputs(self, node: int) -> tuple[int, ...]:
        """c_{k-2} (node 0) and the previous node: (0, 1) for the first node, (0, i-1) after."""
        return (0, node - 1)

    def build_supernet(self, input_shape, num_classes) -> RegularisedDartsSupernet:
        return RegularisedDartsSupernet(self, input_shape[0], num_classes)


@attrs.frozen
class DartsS1Space(EdgeFixedDartsSpace):
    """S1: 8 cells (C=16), 7 ops, alpha shared by cell type; retrained with 36 channels and 20 cells."""

    name = "darts-s1"


@attrs.frozen
class DartsS2Space(EdgeFixedDartsSpace):
    """S2: 20 cells each with its own alpha, ops {skip_connect, sep_conv_3x3}; retrained at the searched depth."""

    name = "darts-s2"
    layers: int = attrs.field(default=20, validator=positive_int)
    ops: tuple[str, ...] = attrs.field(default=S2_OPS, converter=tuple, validator=ops_validator)
    alpha_scope: str = attrs.field(default="cell", validator=alpha_scope_validator)

    def child_defaults(self) -> dict[str, Any]:
        if self.alpha_scope == "cell":  # depth is fixed by the per-cell genotype; width may grow
            return {"C": self.child_C}
        return super().child_defaults()
