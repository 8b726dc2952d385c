"""The three latency-aware rewards of Sec. 4.2, as registered components.

Each takes a quality Q (accuracy, or any higher-is-better signal) and a cost
T with the same unit as the target T0 and works on floats and on torch
tensors alike, so REINFORCE uses them on measured numbers and GDAS/DARTS
differentiate them (``run.arch_objective`` = -reward(exp(-CE), E[T])).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nasplug.components import Reward
from nasplug.errors import ConfigError


def _is_tensor(*values: Any) -> bool:
    return any(isinstance(v, torch.Tensor) for v in values)


class _LatencyReward(Reward):
    """Validates T0 and beta with ConfigErrors; beta must be <= 0 (a cost, not a bonus)."""

    def __init__(self, target: float | None = None, beta: float = -0.07):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise ConfigError(f"{type(self).__name__} beta (the cost exponent) must be a finite number <= 0, "
                              f"got {beta!r}")
        try:
            super().__init__(target, beta)
        except ValueError as exc:
            raise ConfigError(f"{type(self).__name__}: {exc}; pass --latency-target T0 (> 0)") from exc
        if not math.isfinite(self.beta) or self.beta > 0:
            raise ConfigError(f"{type(self).__name__} beta (the cost exponent) must be a finite number <= 0, "
                              f"got {beta!r}")

    def ratio(self, cost: Any) -> Any:
        return cost / self.target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target}, beta={self.beta})"


class AbsoluteReward(_LatencyReward):
    """TuNAS's reward: r = Q + beta * |T/T0 - 1| (Sec. 4.2, relaxation of Eq. 2).

    Default beta -0.10 is the official code's; the paper used one value for
    every classification search (footnote 5).
    """

    def __init__(self, target: float | None = None, beta: float = -0.10):
        super().__init__(target, beta)

    def __call__(self, quality, cost):
        deviation = self.ratio(cost) - 1.0
        penalty = torch.abs(deviation) if _is_tensor(deviation) else abs(deviation)
        return quality + self.beta * penalty


class MnasSoftReward(_LatencyReward):
    """MnasNet/ProxylessNAS soft exponential reward: r = Q * (T/T0)^beta (Sec. 4.2)."""

    def __call__(self, quality, cost):
        return quality * self.ratio(cost) ** self.beta


class MnasHardReward(_LatencyReward):
    """MnasNet hard exponential reward (Eq. 1): Q if T <= T0, else Q * (T/T0)^beta."""

    def __call__(self, quality, cost):
        ratio = self.ratio(cost)
        if _is_tensor(quality, ratio):
            ratio = torch.as_tensor(ratio)
            factor = torch.where(ratio <= 1.0, torch.ones_like(ratio), ratio ** self.beta)
            return quality * factor
        return quality if ratio <= 1.0 else quality * ratio ** self.beta
