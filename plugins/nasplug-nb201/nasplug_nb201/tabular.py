"""A search run whose quality signal is the NAS-Bench-201 table: no supernet, no training, a query budget.

:class:`TabularRun` offers the part of :class:`~nasplug.search.run.SearchRun`
that query-driven architecture optimizers use (``arch``, ``state``,
``space``, ``config``, ``sample()``, ``quality(choices, batch)``,
``cost(choices)``, ``reward``, ``latency_model``, ``arch_distribution()``),
with ``quality`` = table test accuracy / 100 and every ``quality`` call
counted as one query.  The optimizers themselves come from the registry,
so the TuNAS controller searching the table is the same code that searches
a supernet.

Budget: each step of the loop calls the optimizer's ``arch_step`` once,
and every optimizer here spends exactly one query per step, so the budget
in queries is the number of steps, and schedules that read
``state.progress`` (TuNAS's learning-rate delay and growth) span the budget.
Repeated queries of the same cell count again, as re-training would in the
NAS-Bench-201 paper's time-budget protocol.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import numpy as np
import torch

from nasplug import registry as registry_module
from nasplug.components import ArchOptimizer, ArchParameters, LatencyModel, Reward, Sampler
from nasplug.config import SearchConfig
from nasplug.errors import ConfigError
from nasplug import SearchState
from nasplug.spaces.base import Genotype
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.latency import TableLatencyModel
from nasplug_nb201.table import NB201Table, dataset_name


@attrs.frozen(eq=False)
class TabularResult:
    """What a query-budget search found."""

    genotype: Genotype           # the optimizer's own answer (REINFORCE: argmax of the policy)
    final_index: int
    final_accuracy: float        # table accuracy (percent) of ``genotype``
    best_index: int              # the best cell among those queried
    best_accuracy: float
    queries: int
    trace: np.ndarray            # best accuracy found after each query (percent)
    final_latency: float | None = None


class TabularRun:
    """Drives an :class:`ArchOptimizer` with the table as its quality signal.

    ``sampler``/``arch_optimizer`` are registry names (or instances);
    ``reward`` with ``latency_device`` and ``latency_target`` makes the
    optimizer trade table accuracy against the device column's latency.
    """

    def __init__(self, table: NB201Table, arch_optimizer: str | ArchOptimizer, budget: int = 100,
                 dataset: str = "cifar10", seed: int = 0, sampler: str | Sampler | None = None,
                 sampler_options: Mapping[str, Any] | None = None,
                 optimizer_options: Mapping[str, Any] | None = None, reward: str | None = None,
                 reward_options: Mapping[str, Any] | None = None, latency_device: str | None = None,
                 latency_target: float | None = None, arch_lr: float = 3e-4, arch_init_std: float = 0.0,
                 registry=None):
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ConfigError(f"query budget must be a positive integer, got {budget!r}")
        self.registry = registry or registry_module.default_registry()
        self.table = table
        self.dataset = dataset_name(dataset)
        self.budget = budget
        self.space = NB201Space()
        names = {"sampler": sampler if isinstance(sampler, str) else None,
                 "arch_optimizer": arch_optimizer if isinstance(arch_optimizer, str) else None}
        # the config optimizers read (arch_lr, seed, ...); never used to load data or build a supernet
        self.config = SearchConfig(space="nb201", epochs=1, steps_per_epoch=budget, seed=seed,
                                   arch_lr=arch_lr, arch_init_std=arch_init_std, reward=reward,
                                   reward_options=dict(reward_options or {}), latency_target=latency_target,
                                   sampler_options=dict(sampler_options or {}),
                                   optimizer_options=dict(optimizer_options or {}), **names)
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.arch = ArchParameters(self.space.decisions, arch_init_std, self.generator)
        self.state = SearchState(self.space, self.generator, epochs=1, steps_per_epoch=budget)
        self.sampler: Sampler | None = (self.registry.get("sampler", sampler, **self.config.sampler_options)
                                        if isinstance(sampler, str) else sampler)
        self.optimizer: ArchOptimizer = (
            self.registry.get("arch_optimizer", arch_optimizer, **self.config.optimizer_options)
            if isinstance(arch_optimizer, str) else arch_optimizer)
        self.latency_model: LatencyModel | None = None
        self.reward: Reward | None = None
        if latency_device is not None:
            self.latency_model = TableLatencyModel(table=table, device=latency_device)
        if reward is not None:
            if self.latency_model is None:
                raise ConfigError(f"reward {reward!r} needs latency_device=COLUMN (one of {', '.join(table.devices)})")
            options = dict(reward_options or {})
            if latency_target is not None:
                options["target"] = latency_target
            self.reward = self.registry.get("reward", reward, **options)
        self.accuracy = table.accuracy_column(self.dataset)
        self.queries = 0
        self.queried: list[int] = []
        self.optimizer.setup(self)

    # -- the SearchRun interface query-driven optimizers use --------------------
    def sample(self):
        if self.sampler is None:
            raise ConfigError("this tabular run has no sampler; pass sampler='categorical' (or another)")
        return self.sampler.sample(self.arch, self.state)

    def quality(self, choices: Mapping[str, int], batch: Any = None) -> float:
        """Table test accuracy / 100 of the cell (the batch is unused); counts one query."""
        index = self.table.index(choices)
        value = float(self.accuracy[index])
        if np.isnan(value):
            raise ConfigError(f"the table has no {self.dataset} accuracy for {self.table.strings[index]!r}")
        self.queries += 1
        self.queried.append(index)
        return value / 100.0

    def cost(self, choices: Mapping[str, int]) -> float:
        if self.latency_model is None:
            raise ConfigError("this tabular run has no latency model; pass latency_device=COLUMN")
        return float(self.latency_model.predict(choices))

    def arch_distribution(self) -> dict[str, list[float]]:
        return {k: v.tolist() for k, v in self.arch.probabilities().items()}

    # -- the loop ---------------------------------------------------------------
    def step(self) -> dict[str, float]:
        before = self.queries
        metrics = self.optimizer.arch_step(self, None, None)
        if self.queries != before + 1:
            raise ConfigError(f"{type(self.optimizer).__name__}.arch_step made {self.queries - before} table "
                              f"queries; a tabular run needs exactly one per step")
        self.state.step_in_epoch += 1
        return metrics

    def run(self) -> TabularResult:
        while self.queries < self.budget:
            self.step()
        self.state.epoch, self.state.step_in_epoch = 1, 0
        genotype = self.optimizer.final_genotype(self)
        final = self.table.index(genotype)
        queried = np.asarray(self.queried)
        accs = self.accuracy[queried]
        trace = np.maximum.accumulate(accs)
        best = int(queried[int(np.argmax(accs))])
        latency = self.latency_model.predict(self.space.choices_from_genotype(genotype)) \
            if self.latency_model is not None else None
        return TabularResult(genotype, final, float(self.accuracy[final]), best, float(self.accuracy[best]),
                             self.queries, trace, latency)
