"""A trained supernet's final pick, made among the architectures a training-free proxy rates best.

``proxy-screen`` wraps a single-path supernet search (RSPS, ``nasplug:random``, by default; its sampler's
fairness or op warmup included): the supernet trains exactly as the wrapped search trains it, and only the
final pick changes.  RSPS ranks random candidates by their shared-weight validation accuracy; here the
``cells`` candidates are first scored at initialisation by the rank vote of ``proxies`` (as the ``zerocost``
search does), the best ``keep`` survive, and the supernet picks among those by shared-weight accuracy on the
whole validation split.

Why: on a short single-path search the shared-weight ranking over the whole space is biased towards
parameter-free cells (the convolutions have had a fraction of the updates), so RSPS's pick is bimodal over
seeds.  The proxies are blind to training but rate convolution-rich cells well; the supernet then decides
among cells that are all plausible, where its bias matters least.  This is the proxy-filter-then-train
hybrid of the zero-cost literature (Abdelfattah et al. ICLR 2021, section 5: proxies "warm up" or prune the
sample of a search that trains).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from nasplug.components import ArchOptimizer
from nasplug.errors import ConfigError
from nasplug.strategies.random_search import CANDIDATE_STREAM, distinct_samples

from nasplug_zerocost.driven import inner_optimizer
from nasplug_zerocost.scoring import vote
from nasplug_zerocost.search import DEFAULT_PROXIES, CellScorer, positive_int, scoring_batches, voting_proxies


def screened(cells: Sequence[Mapping[str, int]], scores: Sequence[Mapping[str, float]], keep: int,
             weights: Mapping[str, float] | None = None) -> list[Mapping[str, int]]:
    """The ``keep`` cells with the highest rank vote of their proxy scores, best first (ties: drawn first)."""
    names = list(scores[0])
    total = vote({n: [s[n] for s in scores] for n in names}, weights)
    order = sorted(range(len(cells)), key=lambda k: (-total[k], k))
    return [cells[k] for k in order[:keep]]


class ProxyScreen(ArchOptimizer):
    """The wrapped supernet search, whose final pick is made among the proxy-screened candidates."""

    def __init__(self, inner: ArchOptimizer, proxies: str | Sequence[str], cells: int, keep: int, batches: int,
                 batch_size: int, proxy_options: Mapping[str, Mapping[str, Any]] | None,
                 weights: Mapping[str, float] | None):
        self.inner = inner
        self.proxy_names, self.proxies, self.weights = voting_proxies("proxy-screen", proxies, proxy_options, weights)
        self.cells = positive_int("proxy-screen", "cells", cells)
        self.keep = positive_int("proxy-screen", "keep", keep)
        if self.keep > self.cells:
            raise ConfigError(f"proxy-screen keep must be at most cells ({self.cells}), got {keep!r}")
        self.batches = positive_int("proxy-screen", "batches", batches)
        self.batch_size = positive_int("proxy-screen", "batch_size", batch_size)
        for attribute in ("arch_first", "needs_differentiable_sampler", "needs_single_path_sampler",
                          "needs_latency_target", "data_parallel", "data_parallel_refusal"):
            setattr(self, attribute, getattr(inner, attribute))
        #: the screened candidates and the supernet's accuracy of each, from the last final pick (for reports)
        self.last_screen: list[dict[str, Any]] = []

    def setup(self, run) -> None:
        self.inner.setup(run)

    def weight_step(self, run, x, y) -> dict[str, float]:
        return self.inner.weight_step(run, x, y)

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        return self.inner.arch_step(run, train_batch, valid_batch)

    def epoch_genotype(self, run):
        return self.inner.epoch_genotype(run) if hasattr(self.inner, "epoch_genotype") else None

    def final_genotype(self, run):
        generator = torch.Generator().manual_seed(run.config.seed + CANDIDATE_STREAM)  # RSPS's candidates
        cells = distinct_samples(run.space, self.cells, generator)
        scorer = CellScorer(run.space, self.proxies, scoring_batches(run, self.batches, self.batch_size),
                            run.data.num_classes, run.config.seed)
        finalists = screened(cells, [scorer(c) for c in cells], self.keep, self.weights)
        evaluated = [(c, run.evaluate(c)) for c in finalists]
        self.last_screen = [{"choices": dict(c), "loss": loss, "accuracy": acc} for c, (loss, acc) in evaluated]
        # highest shared-weight accuracy, then lowest loss, then the better proxy vote (the earlier finalist)
        best = min(range(len(evaluated)), key=lambda k: (-evaluated[k][1][1], evaluated[k][1][0], k))
        return run.space.genotype_from_choices(evaluated[best][0])

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state)


def proxy_screen(search: str = "nasplug:random", proxies: str | Sequence[str] = DEFAULT_PROXIES, cells: int = 200,
                 keep: int = 10, search_options: Mapping[str, Any] | None = None, batches: int = 1,
                 batch_size: int = 64, proxy_options: Mapping[str, Mapping[str, Any]] | None = None,
                 weights: Mapping[str, float] | None = None) -> ProxyScreen:
    """``proxy-screen``: the supernet search ``search``, picking among the ``keep`` best of ``cells`` by the proxies."""
    return ProxyScreen(inner_optimizer(search, search_options), proxies, cells, keep, batches, batch_size,
                       proxy_options, weights)


proxy_screen.test_options = {"cells": 3, "keep": 2, "batch_size": 4, "proxies": ["params", "naswot"]}
