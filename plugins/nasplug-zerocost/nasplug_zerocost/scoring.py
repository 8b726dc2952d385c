"""Scoring architectures of any space at initialisation, and combining several proxies by rank (a vote).

A cell's score must not depend on which other cells a search happens to
score or in what order, or two searches with the same seed could disagree
and a cache could not be trusted: so each network is initialised from a
seed derived from (the search's seed, the cell's choices), and the batch is
fixed before the first cell is scored.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nasplug.errors import ConfigError

Proxy = Callable[[nn.Module, tuple[torch.Tensor, torch.Tensor]], float]


def cell_key(choices: Mapping[str, int]) -> str:
    """A stable text key of one architecture: its choices sorted by decision name."""
    return json.dumps({k: int(v) for k, v in sorted(choices.items())}, separators=(",", ":"))


def init_seed(seed: int, choices: Mapping[str, int]) -> int:
    """The initialisation seed of one cell in a search with ``seed``: independent of the scoring order."""
    digest = hashlib.sha256(f"{int(seed)}|{cell_key(choices)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def build_at_init(space, choices: Mapping[str, int], input_shape: Sequence[int], num_classes: int,
                  seed: int) -> nn.Module:
    """The child network of ``choices`` (the space's own ``build_child``) with seeded initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed(seed, choices))
        return space.build_child(space.genotype_from_choices(choices), tuple(input_shape), num_classes)


def score_cell(space, choices: Mapping[str, int], proxies: Mapping[str, Proxy],
               batches: Sequence[tuple[torch.Tensor, torch.Tensor]], num_classes: int, seed: int) -> dict[str, float]:
    """Each proxy's score of one architecture: the mean over ``batches``, one fresh network per batch.

    Every batch gets its own initialisation (seed + batch number), so several batches average over both
    the data and the initial weights, which is what lowers a proxy's variance."""
    scores: dict[str, list[float]] = {name: [] for name in proxies}
    for k, batch in enumerate(batches):
        net = build_at_init(space, choices, batch[0].shape[1:], num_classes, seed * 1009 + k)
        for name, proxy in proxies.items():
            scores[name].append(float(proxy(net, batch)))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks, 0 = worst, higher = better; -inf and nan rank lowest (a degenerate network)."""
    from scipy.stats import rankdata

    array = np.asarray(values, dtype=np.float64)
    array = np.where(np.isnan(array), -np.inf, array)
    return rankdata(array, method="average") - 1.0


def vote(score_table: Mapping[str, Sequence[float]], weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Rank aggregation: each candidate's (weighted) sum of its ranks under every proxy (Abdelfattah et al.
    sec. 5's vote; TE-NAS ranks by NTK and linear regions the same way).  Higher is better."""
    if not score_table:
        raise ConfigError("a vote needs at least one proxy")
    lengths = {len(v) for v in score_table.values()}
    if len(lengths) != 1:
        raise ConfigError(f"every proxy must score the same candidates; got lengths {sorted(lengths)}")
    total = np.zeros(lengths.pop())
    for name, values in score_table.items():
        total += (1.0 if weights is None else float(weights.get(name, 1.0))) * ranks(values)
    return total
