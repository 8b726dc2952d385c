"""Small stand-ins for a search run, for this plugin's tests and for tabular users.

:class:`TabularRun` is the smallest object :class:`~nasplug_tunas.reinforce.Reinforce`
can drive: no supernet, a quality function and a cost function over choice
dicts.  It is what a tabular benchmark (NAS-Bench-201 answered from a
table) looks like to the optimizer.
"""

from __future__ import annotations

from typing import Callable, Mapping

import attrs
import torch

from nasplug.components import ArchParameters, Reward, Sampler
from nasplug import SearchState


TabularState = SearchState  # the kernel's state: progress, global_step, generator, space


@attrs.define
class TabularConfig:
    arch_lr: float = 0.05


class TabularRun:
    """A run without weights: quality and cost come from functions of the choices."""

    def __init__(self, space, sampler: Sampler, quality: Callable[[Mapping[str, int]], float],
                 cost: Callable[[Mapping[str, int]], float] | None = None, reward: Reward | None = None,
                 epochs: int = 10, steps_per_epoch: int = 10, seed: int = 0, arch_lr: float = 0.05):
        self.space = space
        self.sampler = sampler
        self.generator = torch.Generator().manual_seed(seed)
        self.arch = ArchParameters(space.decisions, 0.0)
        self.state = TabularState(space, self.generator, epochs, steps_per_epoch)
        self.config = TabularConfig(arch_lr)
        self._quality, self._cost, self.reward = quality, cost, reward
        self.supernet = None

    def sample(self):
        return self.sampler.sample(self.arch, self.state)

    def quality(self, choices, batch=None) -> float:
        return float(self._quality(choices))

    def cost(self, choices) -> float:
        return float(self._cost(choices))

    def run(self, optimizer) -> list[dict[str, float]]:
        optimizer.setup(self)
        history = []
        while self.state.epoch < self.state.epochs:
            for step in range(self.state.steps_per_epoch):
                self.state.step_in_epoch = step
                history.append(optimizer.arch_step(self, None, None))
            self.state.epoch += 1
            self.state.step_in_epoch = 0
        return history
