"""An analytic cost model: multiply-accumulates (millions) of a space's child, per decision.

It works for any space: it counts the MACs of single-path supernet forwards
(only executed convolutions and linear layers count).  The additive form
takes the reference architecture (choice 0 everywhere) and measures how
each single choice changes the total; for cell spaces whose edges do not
change each other's shapes (NAS-Bench-201, DARTS) it is exact.
"""

from __future__ import annotations

from typing import Mapping

import torch

from nasplug.components import LatencyModel
from nasplug.metrics import count_macs


class FlopsLatencyModel(LatencyModel):
    """Cost in millions of MACs per image; deterministic and device-free."""

    unit = "MMACs"

    def __init__(self):
        self.space = None
        self._net = None
        self._base = 0.0
        self._costs: dict[str, torch.Tensor] = {}

    def prepare(self, space, input_shape, num_classes) -> None:
        self.space = space
        self._net = space.build_supernet(input_shape, num_classes)
        self._example = torch.zeros((1,) + tuple(input_shape))
        reference = {d.name: 0 for d in space.decisions}
        self._base = self._macs(reference)
        self._costs = {}
        for d in space.decisions:
            row = []
            for k in range(len(d.choices)):
                row.append(self._macs({**reference, d.name: k}) - self._base if k else 0.0)
            self._costs[d.name] = torch.tensor(row, dtype=torch.float64)

    def _macs(self, choices: Mapping[str, int]) -> float:
        return count_macs(self._net, self._example, self.space.selections(choices)) / 1e6

    def predict(self, choices: Mapping[str, int]) -> float:
        return self._macs(choices)

    def decision_costs(self):
        return self._base, self._costs
