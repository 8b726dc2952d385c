"""An analytic cost model: multiply-accumulates (millions) of a space's child, per decision.

It works for any space: it counts the MACs of single-path supernet forwards
with torch's ``FlopCounterMode`` (:func:`nasplug.metrics.count_macs`), so
only the products a single path executes count, including functional
convolutions on weight slices (TuNAS's shared layers).  A single path computes
what the child network of the same architecture computes, so the prediction
is the child's cost.

The additive form takes the reference architecture (choice 0 everywhere) and
measures how each single choice changes the total, once, in :meth:`prepare`.
Where that form is exact (cell spaces whose edges do not change each other's
shapes: NAS-Bench-201, DARTS), :meth:`predict` sums it; where choices interact
(searched filter counts change the next layer's input, a skipped layer costs
nothing whatever its kernel) :meth:`predict` counts a forward pass, memoised.
"""

from __future__ import annotations

from typing import Mapping

import torch

from nasplug.components import LatencyModel
from nasplug.metrics import count_macs

#: random architectures on which the additive form must be exact before predict() relies on it
ADDITIVITY_CHECKS = 4
#: counted architectures kept (a REINFORCE search revisits its likely ones; the oldest are dropped)
MEMO_SIZE = 4096


class FlopsLatencyModel(LatencyModel):
    """Cost in millions of MACs per image; deterministic and device-free."""

    unit = "MMACs"

    def __init__(self):
        self.space = None
        self._net = None
        self._base = 0.0
        self._costs: dict[str, torch.Tensor] = {}
        self._additive_exact = False
        self._memo: dict[tuple[int, ...], float] = {}

    def prepare(self, space, input_shape, num_classes) -> None:
        self.space = space
        self._net = space.build_supernet(input_shape, num_classes)
        self._example = torch.zeros((1,) + tuple(input_shape))
        self._memo = {}
        reference = {d.name: 0 for d in space.decisions}
        self._base = self._macs(reference)
        self._costs = {}
        for d in space.decisions:
            row = []
            for k in range(len(d.choices)):
                row.append(self._macs({**reference, d.name: k}) - self._base if k else 0.0)
            self._costs[d.name] = torch.tensor(row, dtype=torch.float64)
        generator = torch.Generator().manual_seed(0)
        samples = [space.sample(generator) for _ in range(ADDITIVITY_CHECKS)]
        self._additive_exact = all(abs(self._sum(c) - self._macs(c)) < 1e-9 for c in samples)

    def _key(self, choices: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(self.space.choice_index(d, choices) for d in self.space.decisions)

    def _macs(self, choices: Mapping[str, int]) -> float:
        key = self._key(choices)
        if key not in self._memo:
            if len(self._memo) >= MEMO_SIZE:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = count_macs(self._net, self._example, self.space.selections(choices)) / 1e6
        return self._memo[key]

    def _sum(self, choices: Mapping[str, int]) -> float:
        return self._base + sum(float(self._costs[d.name][self.space.choice_index(d, choices)])
                                for d in self.space.decisions)

    def predict(self, choices: Mapping[str, int]) -> float:
        return self._sum(choices) if self._additive_exact else self._macs(choices)

    def decision_costs(self):
        return self._base, self._costs
