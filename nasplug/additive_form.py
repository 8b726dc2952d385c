"""The additive form of a latency model fitted by least squares: one base and one cost per decision choice.

Gradient strategies (GDAS, an expected-latency reward) need a cost that is
differentiable in the selection probabilities, so every latency model offers
``decision_costs() -> (base, {decision: cost per choice})``.  A model whose
prediction is not a sum over decisions (a per-unit table, where a layer's cost
depends on the width chosen upstream) gets the additive form that best matches
its predictions over many random architectures; the kernel's ``measured`` model
and the TuNAS plugin's ``lookup`` model both fit it here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch

#: random architectures fitted per parameter of the additive form, and at least this many
SAMPLES_PER_PARAMETER, MIN_SAMPLES = 4, 256


def fit_additive(space, rows: Iterable[tuple[Mapping[str, int], float]]) -> tuple[float, dict[str, torch.Tensor]]:
    """Least-squares base + one cost per decision choice over ``rows`` of (choices, cost).

    Each decision's costs are shifted so its first choice costs 0 (the base absorbs the rest).
    """
    rows = list(rows)
    decisions = list(space.decisions)
    offsets, total = {}, 0
    for d in decisions:
        offsets[d.name] = total
        total += len(d.choices)
    features = np.zeros((len(rows), total + 1))
    targets = np.zeros(len(rows))
    for i, (choices, cost) in enumerate(rows):
        features[i, -1] = 1.0
        for d in decisions:
            features[i, offsets[d.name] + choices[d.name]] = 1.0
        targets[i] = cost
    solution, *_ = np.linalg.lstsq(features, targets, rcond=None)
    base = float(solution[-1])
    costs = {}
    for d in decisions:
        row = solution[offsets[d.name]: offsets[d.name] + len(d.choices)]
        base += float(row[0])
        costs[d.name] = torch.tensor(row - row[0], dtype=torch.float32)
    return base, costs


def additive_fit(space, predict: Callable[[Mapping[str, int]], float], samples: int | None = None,
                 seed: int = 0) -> tuple[float, dict[str, torch.Tensor]]:
    """The additive form that best matches ``predict`` on random architectures (4 per parameter, at least 256)."""
    total = sum(len(d.choices) for d in space.decisions)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(samples or max(MIN_SAMPLES, SAMPLES_PER_PARAMETER * total)):
        choices = space.sample(generator)
        rows.append((choices, predict(choices)))
    return fit_additive(space, rows)
