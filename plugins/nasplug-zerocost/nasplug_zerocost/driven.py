"""Proxies inside other strategies: a proxy as the quality signal of a query search, a proxy warm start of
a differentiable search's architecture logits.

``proxy-quality`` wraps any query-driven architecture optimizer (the nb201 plugin's ``rea`` and its
random search, the TuNAS ``reinforce`` controller): the wrapped optimizer calls ``run.quality(choices, batch)``
as usual and gets the proxy's answer instead of the supernet's shared-weight accuracy, so REA evolves by
proxy fitness and REINFORCE's reward ``reward(Q, T)`` takes the proxy as Q and the latency model's cost as
T (a latency target).  Nothing is trained.  The quality is the proxy score's percentile among
``reference`` random architectures scored at setup: a number in [0, 1] with the meaning of an accuracy
(what a reward's Q expects), whatever the proxy's own scale (NASWOT's log-determinants are in the
hundreds, synflow's products span decades).

``proxy-warmstart`` wraps a differentiable optimizer (``gradient``: DARTS, GDAS): before the first step it
scores ``cells`` random architectures and sets each decision's logits to the standardised mean percentile
of the architectures holding each choice (the choice's marginal proxy quality) times ``scale``; the search
then runs unchanged from there instead of from uniform logits.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from nasplug.components import ArchOptimizer
from nasplug.errors import ConfigError

from nasplug_zerocost.registered import resolve_proxies
from nasplug_zerocost.search import CellScorer, positive_int, scoring_batches


class ProxyQuality:
    """Percentile quality of architectures by one proxy, against a fixed reference sample."""

    def __init__(self, scorer: CellScorer, proxy: str, reference: Sequence[Mapping[str, int]]):
        self.scorer, self.proxy = scorer, proxy
        self.reference = np.sort([scorer(c)[proxy] for c in reference])

    def __call__(self, choices: Mapping[str, int]) -> float:
        score = self.scorer(choices)[self.proxy]
        below = np.searchsorted(self.reference, score, side="left")
        ties = np.searchsorted(self.reference, score, side="right") - below
        return float((below + 0.5 * ties) / len(self.reference))  # mid-rank: ties count half


def inner_optimizer(search: str, options: Mapping[str, Any] | None) -> ArchOptimizer:
    from nasplug import registry as registry_module

    if not isinstance(search, str):
        raise ConfigError(f"search must name an architecture optimizer, got {search!r}")
    return registry_module.default_registry().get("arch_optimizer", search, **dict(options or {}))


class _Wrapper(ArchOptimizer):
    """Forwards the contract to the wrapped optimizer; declares what it declares."""

    def __init__(self, inner: ArchOptimizer, proxy: str, batches: int, batch_size: int,
                 proxy_options: Mapping[str, Any] | None):
        self.inner = inner
        if not isinstance(proxy, str):
            raise ConfigError(f"proxy must be one proxy name, got {proxy!r}")
        self.proxy_name = proxy
        self.proxies = resolve_proxies([proxy], {proxy: proxy_options} if proxy_options else None)
        self.batches = positive_int(type(self).__name__, "batches", batches)
        self.batch_size = positive_int(type(self).__name__, "batch_size", batch_size)
        for attribute in ("arch_first", "needs_differentiable_sampler", "needs_single_path_sampler",
                          "needs_latency_target"):
            setattr(self, attribute, getattr(inner, attribute))

    def _scorer(self, run) -> CellScorer:
        return CellScorer(run.space, self.proxies, scoring_batches(run, self.batches, self.batch_size),
                          run.data.num_classes, run.config.seed)

    def final_genotype(self, run):
        return self.inner.final_genotype(run)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state)


class _ProxyRunView:
    """The run as the wrapped optimizer sees it: everything the same but ``quality``."""

    def __init__(self, run, quality: ProxyQuality):
        self._run, self._quality = run, quality

    def quality(self, choices: Mapping[str, int], batch: Any = None) -> float:
        return self._quality(choices)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)


class ProxyQualitySearch(_Wrapper):
    """A query search (``rea``, ``reinforce``, ...) whose quality signal is a proxy; the supernet is not trained."""

    def __init__(self, inner: ArchOptimizer, proxy: str, reference: int, batches: int, batch_size: int,
                 proxy_options: Mapping[str, Any] | None):
        super().__init__(inner, proxy, batches, batch_size, proxy_options)
        self.reference = positive_int("proxy-quality", "reference", reference)
        self.quality: ProxyQuality | None = None

    def setup(self, run) -> None:
        generator = torch.Generator().manual_seed(run.config.seed + 7919)  # not the search's own stream
        reference = [run.space.sample(generator) for _ in range(self.reference)]
        self.quality = ProxyQuality(self._scorer(run), self.proxy_name, reference)
        self.inner.setup(_ProxyRunView(run, self.quality))

    def weight_step(self, run, x, y) -> dict[str, float]:
        return {}  # training-free: the wrapped optimizer's quality comes from the proxy

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        return self.inner.arch_step(_ProxyRunView(run, self.quality), train_batch, valid_batch)

    def epoch_genotype(self, run):
        view = _ProxyRunView(run, self.quality)
        if hasattr(self.inner, "epoch_genotype"):
            return self.inner.epoch_genotype(view)
        return self.inner.final_genotype(view)

    def final_genotype(self, run):
        return self.inner.final_genotype(_ProxyRunView(run, self.quality))


class ProxyWarmStart(_Wrapper):
    """A differentiable search started from proxy-derived logits (see the module docstring)."""

    def __init__(self, inner: ArchOptimizer, proxy: str, cells: int, scale: float, batches: int, batch_size: int,
                 proxy_options: Mapping[str, Any] | None):
        super().__init__(inner, proxy, batches, batch_size, proxy_options)
        self.cells = positive_int("proxy-warmstart", "cells", cells)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale < 0:
            raise ConfigError(f"proxy-warmstart scale must be a finite number >= 0, got {scale!r}")
        self.scale = float(scale)
        self.initial_logits: dict[str, list[float]] | None = None

    def setup(self, run) -> None:
        self.inner.setup(run)
        if self.initial_logits is None:
            self.initial_logits = warm_logits(run.space, self._scorer(run), self.proxy_name, self.cells,
                                              self.scale, run.config.seed)
        with torch.no_grad():
            for name, values in self.initial_logits.items():
                run.arch[name].copy_(torch.tensor(values, dtype=run.arch[name].dtype))

    def weight_step(self, run, x, y) -> dict[str, float]:
        return self.inner.weight_step(run, x, y)

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        return self.inner.arch_step(run, train_batch, valid_batch)


def warm_logits(space, scorer: CellScorer, proxy: str, cells: int, scale: float, seed: int) -> dict[str, list[float]]:
    """Per decision, ``scale`` x the standardised mean percentile of the sampled architectures with each choice
    (a choice no sample held gets the decision's mean: logit 0)."""
    from nasplug_zerocost.scoring import ranks

    generator = torch.Generator().manual_seed(seed + 104729)
    sampled = [space.sample(generator) for _ in range(cells)]
    percentile = ranks([scorer(c)[proxy] for c in sampled]) / max(1, cells - 1)
    logits = {}
    for decision in space.decisions:
        means = np.full(len(decision.choices), np.nan)
        for k in range(len(decision.choices)):
            held = [p for c, p in zip(sampled, percentile) if space.choice_index(decision, c) == k]
            means[k] = np.mean(held) if held else np.nan
        means = np.where(np.isnan(means), np.nanmean(means), means)
        spread = means.std()
        logits[decision.name] = (scale * (means - means.mean()) / spread if spread > 0
                                 else np.zeros_like(means)).tolist()
    return logits


def proxy_quality(search: str = "nasplug-nb201:rea", proxy: str = "naswot", reference: int = 20,
                  search_options: Mapping[str, Any] | None = None, batches: int = 1, batch_size: int = 64,
                  proxy_options: Mapping[str, Any] | None = None) -> ProxyQualitySearch:
    """``proxy-quality``: the query search ``search`` with ``proxy`` as its quality signal."""
    return ProxyQualitySearch(inner_optimizer(search, search_options), proxy, reference, batches, batch_size,
                              proxy_options)


def proxy_warmstart(search: str = "nasplug:gradient", proxy: str = "naswot", cells: int = 50, scale: float = 1.0,
                    search_options: Mapping[str, Any] | None = None, batches: int = 1, batch_size: int = 64,
                    proxy_options: Mapping[str, Any] | None = None) -> ProxyWarmStart:
    """``proxy-warmstart``: the differentiable search ``search`` started from ``proxy``'s per-choice logits."""
    return ProxyWarmStart(inner_optimizer(search, search_options), proxy, cells, scale, batches, batch_size,
                          proxy_options)


#: small options for the conformance kit
proxy_quality.test_options = {"reference": 2, "batch_size": 4}
proxy_warmstart.test_options = {"cells": 3, "batch_size": 4}
