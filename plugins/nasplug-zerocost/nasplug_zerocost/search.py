"""Training-free search: sample architectures, score each at initialisation, keep the best (by one proxy or by
the rank vote of several).

:class:`CellScorer` is the part any caller can use (a benchmark, another strategy): it scores one
architecture of any space that has ``decisions``/``build_child`` and caches the answer.
:class:`TrainingFreeSearch` is the architecture optimizer ``zerocost``: inside a normal
:class:`~nasplug.search.run.SearchRun` it scores one new cell per step instead of training a supernet (its
weight step does nothing), so it has the run directory, checkpoints, resume, benchmark look-ups and the CLI
of every other strategy, and its answer after any step is the best cell so far (an anytime search).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from nasplug.components import ArchOptimizer
from nasplug.errors import ConfigError

from nasplug_zerocost.registered import resolve_proxies
from nasplug_zerocost.scoring import Proxy, cell_key, score_cell, vote

DEFAULT_PROXIES = ("naswot", "synflow", "jacob_cov")


def positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner} {name} must be a positive integer, got {value!r}")
    return value


def voting_proxies(owner: str, proxies: str | Sequence[str], proxy_options: Mapping[str, Mapping[str, Any]] | None,
                   weights: Mapping[str, float] | None) -> tuple[list[str], dict[str, Proxy], dict[str, float] | None]:
    """The names, resolved proxies and vote weights of a search that votes by several proxies, checked."""
    names = [proxies] if isinstance(proxies, str) else list(proxies)
    resolved = resolve_proxies(names, proxy_options)
    if weights is not None and set(weights) - set(names):
        raise ConfigError(f"{owner} weights name {sorted(set(weights) - set(names))}, not among the proxies {names}")
    return names, resolved, dict(weights) if weights is not None else None


class CellScorer:
    """Scores architectures of ``space`` with named proxies on fixed batches; remembers every answer."""

    def __init__(self, space, proxies: Mapping[str, Proxy], batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 num_classes: int, seed: int):
        self.space, self.proxies, self.batches = space, dict(proxies), list(batches)
        self.num_classes, self.seed = num_classes, seed
        self.cache: dict[str, dict[str, float]] = {}

    def __call__(self, choices: Mapping[str, int]) -> dict[str, float]:
        key = cell_key(choices)
        if key not in self.cache:
            self.cache[key] = score_cell(self.space, choices, self.proxies, self.batches, self.num_classes, self.seed)
        return self.cache[key]


def best_by_vote(history: Sequence[tuple[Mapping[str, int], Mapping[str, float]]],
                 weights: Mapping[str, float] | None = None) -> int:
    """Index of the history entry with the highest rank vote (ties: the earlier one)."""
    names = list(history[0][1])
    total = vote({n: [scores[n] for _, scores in history] for n in names}, weights)
    return int(np.flatnonzero(total == total.max())[0])


def scoring_batches(run, batches: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed batches of the run's training images, without augmentation, seeded by the run's seed."""
    from nasplug_zerocost.batches import fixed_batches

    dataset = run.data.train
    if hasattr(dataset, "with_augment"):
        dataset = dataset.with_augment(False)
    return fixed_batches(dataset, batches, batch_size, run.config.seed)


class TrainingFreeSearch(ArchOptimizer):
    """Score ``cells`` distinct random architectures at init, one per step; answer the best by the vote.

    With one proxy the vote is that proxy's order.  ``batches`` > 1 averages every score over that many
    batches, each with its own initialisation.  The loop must offer at least ``cells`` steps
    (``epochs x steps_per_epoch``); steps after the last cell only report the answer.
    """

    data_parallel = ()
    data_parallel_refusal = "it trains nothing; run seeds as separate trials with `nasplug sweep`"
    #: small options for the conformance kit (two steps of a tiny run)
    test_options = {"proxies": ["naswot", "synflow"], "cells": 2, "batch_size": 4}

    def __init__(self, proxies: str | Sequence[str] = DEFAULT_PROXIES, cells: int = 100, batches: int = 1,
                 batch_size: int = 64, proxy_options: Mapping[str, Mapping[str, Any]] | None = None,
                 weights: Mapping[str, float] | None = None):
        self.proxy_names, self.proxies, self.weights = voting_proxies("zerocost", proxies, proxy_options, weights)
        self.cells = positive_int("zerocost", "cells", cells)
        self.batches = positive_int("zerocost", "batches", batches)
        self.batch_size = positive_int("zerocost", "batch_size", batch_size)
        self.history: list[tuple[dict[str, int], dict[str, float]]] = []
        #: process CPU seconds spent scoring, cumulative after each cell (for anytime curves; not a metric,
        #: so two runs with the same seed still log the same history)
        self.cpu_seconds: list[float] = []
        self.scorer: CellScorer | None = None

    def setup(self, run) -> None:
        if run.state.total_steps < self.cells:
            raise ConfigError(f"zerocost cells={self.cells} needs at least that many steps; epochs x "
                              f"steps_per_epoch is {run.state.total_steps}")
        self.scorer = CellScorer(run.space, self.proxies, scoring_batches(run, self.batches, self.batch_size),
                                 run.data.num_classes, run.config.seed)

    def weight_step(self, run, x, y) -> dict[str, float]:
        return {}  # training-free: the supernet is never trained

    def next_cell(self, space, generator: torch.Generator) -> dict[str, int]:
        """A random architecture not scored yet (a repeat after 100 tries, in a space almost exhausted)."""
        seen = {cell_key(c) for c, _ in self.history}
        for _ in range(100):
            choices = space.sample(generator)
            if cell_key(choices) not in seen:
                return choices
        return choices

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        if len(self.history) < self.cells:
            start = time.process_time()
            choices = self.next_cell(run.space, run.state.generator)
            self.history.append((choices, self.scorer(choices)))
            spent = time.process_time() - start
            self.cpu_seconds.append((self.cpu_seconds[-1] if self.cpu_seconds else 0.0) + spent)
        return {"cells_scored": float(len(self.history))}

    def best_after(self, cells: int) -> dict[str, int]:
        """The answer the search gave after its first ``cells`` cells (an anytime curve's points)."""
        return self.history[best_by_vote(self.history[:cells], self.weights)][0]

    def best(self) -> dict[str, int]:
        if not self.history:
            raise ConfigError("no architecture has been scored yet")
        return self.history[best_by_vote(self.history, self.weights)][0]

    def epoch_genotype(self, run):
        return run.space.genotype_from_choices(self.best()) if self.history else None

    def final_genotype(self, run):
        return run.space.genotype_from_choices(self.best())

    def state_dict(self) -> dict[str, Any]:
        return {"history": [(dict(c), dict(s)) for c, s in self.history], "cpu_seconds": list(self.cpu_seconds)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [({k: int(v) for k, v in c.items()}, {k: float(v) for k, v in s.items()})
                        for c, s in state.get("history", [])]
        self.cpu_seconds = [float(v) for v in state.get("cpu_seconds", [])]
        if self.scorer is not None:
            self.scorer.cache.update({cell_key(c): s for c, s in self.history})
