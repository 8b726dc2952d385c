"""Random search with weight sharing (Li & Talwalkar, 2019: RSPS).

During the search every step trains the supernet on one uniformly sampled
architecture (single path).  At the end, ``num_candidates`` architectures
are sampled and ranked by their accuracy on a few validation batches with
the shared weights; the best ``top_k`` are re-scored on the whole validation
split and the best of those is returned.  This is the baseline every paper
in nasplug compares against.
"""

from __future__ import annotations

import torch

from nasplug.components import ArchOptimizer, Selection, Sampler
from nasplug.errors import ConfigError


class UniformSampler(Sampler):
    """A uniformly random valid architecture per step, whatever the architecture parameters say."""

    differentiable = False
    single_path = True

    def sample(self, arch, state) -> dict[str, Selection]:
        device = next(iter(arch.parameters())).device
        return state.space.selections(state.space.sample(state.generator), device)


class RandomSearch(ArchOptimizer):
    """No architecture update; the final pick ranks sampled architectures on validation data."""

    #: small options for the conformance kit (nasplug.testing)
    test_options = {"num_candidates": 4, "top_k": 2}

    def __init__(self, num_candidates: int = 100, screen_batches: int = 2, top_k: int = 10):
        for name, value in (("num_candidates", num_candidates), ("screen_batches", screen_batches), ("top_k", top_k)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"random search option {name} must be a positive integer, got {value!r}")
        self.num_candidates, self.screen_batches, self.top_k = num_candidates, screen_batches, top_k

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        return {}

    def epoch_genotype(self, run):
        """RSPS has no current architecture during the search; nothing to score per epoch."""
        return None

    def final_genotype(self, run):
        generator = torch.Generator().manual_seed(run.config.seed + 7919)
        seen, candidates = set(), []
        for _ in range(self.num_candidates * 4):
            choices = run.space.sample(generator)
            key = tuple(sorted(choices.items()))
            if key not in seen:
                seen.add(key)
                candidates.append(choices)
            if len(candidates) == self.num_candidates:
                break
        screened = sorted(
            candidates,
            key=lambda c: _rank_key(run.evaluate(c, self.screen_batches)),
        )[: self.top_k]
        best = min(screened, key=lambda c: _rank_key(run.evaluate(c)))
        return run.space.genotype_from_choices(best)


def _rank_key(loss_acc: tuple[float, float]) -> tuple[float, float]:
    loss, acc = loss_acc
    return (-acc, loss)
