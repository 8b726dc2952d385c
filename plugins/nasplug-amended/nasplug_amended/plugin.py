"""Hook implementations: what nasplug-amended registers (imported inside the hooks: loading stays cheap)."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_arch_optimizers():
    from nasplug_amended.amended import AmendedArchOptimizer
    from nasplug_amended.darts import DartsFirstOrder, DartsSecondOrder

    return {"darts-1st": DartsFirstOrder, "darts-2nd": DartsSecondOrder, "amended": AmendedArchOptimizer}


@hookimpl
def nasplug_search_spaces():
    from nasplug_amended.spaces import DartsS1Space, DartsS2Space

    return {"darts-s1": DartsS1Space, "darts-s2": DartsS2Space}


@hookimpl
def nasplug_strategies():
    from nasplug_amended import presets

    return {"darts": presets.darts, "darts-2nd": presets.darts_2nd, "amended": presets.amended}
