"""Random search with weight sharing (Li & Talwalkar, 2019: RSPS).

During the search every step trains the supernet on one uniformly sampled
architecture (single path).  At the end, ``num_candidates`` architectures
are sampled and ranked by their accuracy on a few validation batches with
the shared weights; the best ``top_k`` are re-scored on the whole validation
split and the best of those is returned.  This is the baseline every paper
in nasplug compares against.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from nasplug.components import ArchOptimizer, Selection, Sampler, check_resumed_options
from nasplug.errors import ConfigError
from nasplug.strategies.fairness import StrictFairness
from nasplug.strategies.op_warmup import DEFAULT_WARMUP_FRACTION, OpWarmup


class UniformSampler(Sampler):
    """A uniformly random valid architecture per step, whatever the architecture parameters say.

    ``op_warmup`` (off by default, as in RSPS) runs every op of a decision
    with probability falling from 1 to 0 over the first ``warmup_fraction``
    of the search (TuNAS's op warmup, :mod:`nasplug.strategies.op_warmup`),
    so the convolutions of a short search are trained as often as the
    parameter-free ops.  ``strict_fairness`` (off by default) trains every
    choice of every decision once per weight step instead, on ``m`` paths
    with one update (FairNAS, :mod:`nasplug.strategies.fairness`).
    """

    differentiable = False
    single_path = True

    def __init__(self, op_warmup: bool = False, warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 strict_fairness: bool = False):
        self.warmup = OpWarmup(op_warmup, warmup_fraction, "uniform sampler")
        self.fairness = StrictFairness(strict_fairness, "uniform sampler")

    def sample(self, arch, state) -> dict[str, Selection]:
        device = next(iter(arch.parameters())).device
        return self.warmup.widen(state.space.selections(state.space.sample(state.generator), device), state)

    def weight_step(self, run, x, y) -> dict[str, float] | None:
        return self.fairness.weight_step(run, x, y)

    def metrics(self, state) -> dict[str, float]:
        return self.warmup.metrics(state)

    def state_dict(self) -> dict[str, Any]:
        return {**self.warmup.options(), **self.fairness.options()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_resumed_options("uniform sampler", state, self.state_dict())


MAX_CANDIDATES = 1_000_000
#: offset of the seed of the final pick's candidate stream from the run's seed (not the search's own stream)
CANDIDATE_STREAM = 7919


def distinct_samples(space, count: int, generator: torch.Generator,
                     max_draws: int | None = None) -> list[dict[str, int]]:
    """Up to ``count`` distinct random architectures of ``space``, in the order drawn.

    Fewer when 1,000 draws in a row bring nothing new (a small space runs
    out of architectures) or after ``max_draws`` draws.  RSPS's final pick
    and the proxy screen draw their candidates here, so with the same seed
    they rank the same stream.
    """
    seen, cells, repeats, draws = set(), [], 0, 0
    while len(cells) < count and repeats < 1000 and (max_draws is None or draws < max_draws):
        choices = space.sample(generator)
        draws += 1
        key = tuple(sorted(choices.items()))
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        cells.append(choices)
        repeats = 0
    return cells


class RandomSearch(ArchOptimizer):
    """No architecture update; the final pick ranks sampled architectures on validation data.

    Data-parallel: the weight step is the run's (averaged) SGD step and the
    candidates are scored by the run's sharded evaluation.
    """

    data_parallel = ("shared", "per-rank")

    #: small options for the conformance kit (nasplug.testing)
    test_options = {"num_candidates": 4, "top_k": 2}

    def __init__(self, num_candidates: int = 100, screen_batches: int = 2, top_k: int = 10):
        for name, value in (("num_candidates", num_candidates), ("screen_batches", screen_batches), ("top_k", top_k)):
            # each candidate is evaluated once: a million already takes days, more is a typo that never ends
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CANDIDATES:
                raise ConfigError(f"random search option {name} must be an integer in [1, {MAX_CANDIDATES}], "
                                  f"got {value!r}")
        self.num_candidates, self.screen_batches, self.top_k = num_candidates, screen_batches, top_k

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        return {}

    def epoch_genotype(self, run):
        """RSPS has no current architecture during the search; nothing to score per epoch."""
        return None

    def final_genotype(self, run):
        generator = torch.Generator().manual_seed(run.config.seed + CANDIDATE_STREAM)
        candidates = distinct_samples(run.space, self.num_candidates, generator, max_draws=self.num_candidates * 4)
        screened = sorted(
            candidates,
            key=lambda c: _rank_key(run.evaluate(c, self.screen_batches)),
        )[: self.top_k]
        best = min(screened, key=lambda c: _rank_key(run.evaluate(c)))
        return run.space.genotype_from_choices(best)


def _rank_key(loss_acc: tuple[float, float]) -> tuple[float, float]:
    loss, acc = loss_acc
    return (-acc, loss)
