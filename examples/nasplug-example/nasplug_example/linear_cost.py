"""A linear latency penalty, reward = Q - weight * T: the smallest reward, and one that needs no target.

TuNAS's rewards aim at a latency target T0 (``--latency-target``); a linear
penalty has none, so it declares ``needs_target = False`` and a search may
use it without a target.  ``__call__`` must work on floats (REINFORCE
scores one architecture) and on tensors (gradient strategies minimise
``-reward`` with the differentiable quality ``exp(-CE)`` and expected cost).
"""

from __future__ import annotations

from nasplug import ConfigError, Reward


class LinearCostReward(Reward):
    """Q - weight * T, for any quality Q and cost T (floats or tensors)."""

    needs_target = False

    def __init__(self, target: float | None = None, weight: float = 0.01):
        super().__init__(target)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"linear-cost option weight must be a number >= 0, got {weight!r}")
        self.weight = float(weight)

    def __call__(self, quality, cost):
        return quality - self.weight * cost
