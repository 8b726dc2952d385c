"""Query-driven architecture optimizers: random search and regularized evolution (REA).

Both spend one quality query per :meth:`arch_step` through ``run.quality``,
so they run unchanged on a :class:`~nasplug_nb201.tabular.TabularRun` (the
table answers) and on a weight-sharing :class:`~nasplug.search.run.SearchRun`
(the supernet answers on the validation batch).

REA follows Algorithm 1 of Real et al. (AAAI 2019): fill a population of
``population_size`` random architectures; then each cycle draws
``sample_size`` members at random (with replacement, as the algorithm box
does), mutates the best of them, adds the child as the youngest member and
removes the *oldest* member (age-based removal, the "regularized" part).
The answer is the best architecture in the whole history.  Mutation
changes the op of one uniformly chosen decision to a different op, chosen
uniformly (the NAS-Bench-201 code's rule: a mutation always changes the cell).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Mapping

import torch

from nasplug.components import ArchOptimizer
from nasplug.errors import ConfigError


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _key(choices: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((k, int(v)) for k, v in choices.items()))


def mutate(space, choices: Mapping[str, int], generator: torch.Generator) -> dict[str, int]:
    """``choices`` with one decision switched to a different choice, both drawn uniformly."""
    decisions = [d for d in space.decisions if len(d.choices) > 1]
    if not decisions:
        raise ConfigError(f"space {space.name!r} has no decision with two or more choices to mutate")
    decision = decisions[int(torch.randint(len(decisions), (1,), generator=generator))]
    current = int(choices[decision.name])
    others = [c for c in range(len(decision.choices)) if c != current]
    child = dict(choices)
    child[decision.name] = others[int(torch.randint(len(others), (1,), generator=generator))]
    return child


class _QuerySearch(ArchOptimizer):
    """Bookkeeping shared by query searches: the history of (choices, quality) and the best so far."""

    data_parallel = ()
    data_parallel_refusal = (
        "its population is ranked by each candidate's quality on one validation batch, which would be a "
        "different shard on each rank (the populations would drift apart); it is a cheap query search, "
        "run it in one process or as many trials with `nasplug sweep`")

    def __init__(self):
        self.history: list[tuple[dict[str, int], float]] = []

    def _query(self, run, choices: dict[str, int], valid_batch) -> float:
        quality = float(run.quality(choices, valid_batch))
        self.history.append((dict(choices), quality))
        return quality

    def best(self) -> tuple[dict[str, int], float]:
        """The best (choices, quality) so far; ties go to the earlier query."""
        if not self.history:
            raise ConfigError("no architecture has been queried yet")
        best = max(range(len(self.history)), key=lambda k: (self.history[k][1], -k))
        return self.history[best]

    def epoch_genotype(self, run):
        return run.space.genotype_from_choices(self.best()[0]) if self.history else None

    def final_genotype(self, run):
        return run.space.genotype_from_choices(self.best()[0])

    def state_dict(self) -> dict[str, Any]:
        return {"history": [(dict(c), q) for c, q in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [(dict(c), float(q)) for c, q in state.get("history", [])]


class RandomQuerySearch(_QuerySearch):
    """Random search: every step queries one architecture drawn uniformly from the space."""

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        choices = run.space.sample(run.state.generator)
        quality = self._query(run, choices, valid_batch)
        return {"quality": quality, "best_quality": self.best()[1]}


class RegularizedEvolution(_QuerySearch):
    """REA (Real et al. 2019, Algorithm 1); defaults are the NAS-Bench-201 runs' population 10, sample 3."""

    def __init__(self, population_size: int = 10, sample_size: int = 3):
        super().__init__()
        self.population_size = _positive_int("rea population_size", population_size)
        self.sample_size = _positive_int("rea sample_size", sample_size)
        #: members as (choices, quality), oldest on the left
        self.population: deque[tuple[dict[str, int], float]] = deque()

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        generator = run.state.generator
        if len(self.history) < self.population_size:
            # initialisation: random members until the population is full
            choices = run.space.sample(generator)
            quality = self._query(run, choices, valid_batch)
            self.population.append((choices, quality))
            return {"quality": quality, "best_quality": self.best()[1], "population": len(self.population)}
        # one cycle: tournament of sample_size members drawn with replacement
        draws = torch.randint(len(self.population), (self.sample_size,), generator=generator).tolist()
        parent = max(draws, key=lambda k: (self.population[k][1], -k))  # ties: the older member
        child = mutate(run.space, self.population[parent][0], generator)
        quality = self._query(run, child, valid_batch)
        self.population.append((child, quality))
        self.population.popleft()  # age-based removal: the oldest dies, whatever its quality
        return {"quality": quality, "best_quality": self.best()[1], "population": len(self.population)}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["population"] = [(dict(c), q) for c, q in self.population]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = deque((dict(c), float(q)) for c, q in state.get("population", []))
