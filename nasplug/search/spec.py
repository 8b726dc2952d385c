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
    dicts are passed to the component factories.  ``space_defaults`` maps a
    space name to further overrides for searches of that space (the
    NAS-Bench-201 search code of a paper's authors often differs from its
    DARTS-space settings); :meth:`defaults_for` merges them.
    """

    sampler: str
    arch_optimizer: str
    description: str = ""
    defaults: dict[str, Any] = attrs.field(factory=dict)
    sampler_options: dict[str, Any] = attrs.field(factory=dict)
    optimizer_options: dict[str, Any] = attrs.field(factory=dict)
    reward: str | None = None
    latency_model: str | None = None
    space_defaults: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def defaults_for(self, space: str) -> dict[str, Any]:
        """The preset's SearchConfig overrides for a search of ``space``: ``defaults`` < ``space_defaults[space]``."""
        return {**self.defaults, **self.space_defaults.get(space, {})}
