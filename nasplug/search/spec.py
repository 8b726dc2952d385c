"""Strategy presets: a paper's method as a named combination of components."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class StrategySpec:
    """What ``--strategy NAME`` means.

    ``sampler``, ``arch_optimizer`` and the optional ``reward`` and
    ``latency_model`` name registered components, by qualified name
    (``"nasplug-gdas:gumbel"``) so the preset keeps working when another
    plugin registers the same short name.  ``defaults`` overrides any
    :class:`~nasplug.config.SearchConfig` field with the paper's settings
    (the user's own settings still win).  ``sampler_options`` and
    ``optimizer_options`` are passed to the preset's own sampler and
    optimizer only: when the user swaps one in (``--sampler``), the preset's
    options for it are dropped, logged and recorded in ``config.json``.  The
    preset's ``reward`` applies only when the user sets a latency target;
    ``latency_model`` defaults to the kernel's ``flops`` when a reward is used.
    ``space_defaults`` maps a space name to further overrides for searches
    of that space (the NAS-Bench-201 search code of a paper's authors often
    differs from its DARTS-space settings); :meth:`defaults_for` merges them.
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
    space_defaults: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def defaults_for(self, space: str) -> dict[str, Any]:
        """The preset's SearchConfig overrides for a search of ``space``: ``defaults`` < ``space_defaults[space]``."""
        short = space.rpartition(":")[2]  # "nasplug:nb201" is the nb201 space too
        return {**self.defaults, **self.space_defaults.get(short, {})}
