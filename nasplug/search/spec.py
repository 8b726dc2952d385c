"""Strategy presets: a paper's method as a named combination of components."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class StrategySpec:
    """What ``--strategy NAME`` means.

    ``sampler`` and ``arch_optimizer`` name registered components;
    ``defaults`` overrides :class:`~nasplug.config.SearchConfig` fields with
    the paper's settings (the user's own settings still win); the option
    dicts are passed to the component factories.
    """

    sampler: str
    arch_optimizer: str
    description: str = ""
    defaults: dict[str, Any] = attrs.field(factory=dict)
    sampler_options: dict[str, Any] = attrs.field(factory=dict)
    optimizer_options: dict[str, Any] = attrs.field(factory=dict)
    reward: str | None = None
    latency_model: str | None = None
    #: in a data-parallel search: every rank draws the same architecture ("shared") or its own ("per-rank")
    rank_sampling: str = "shared"
