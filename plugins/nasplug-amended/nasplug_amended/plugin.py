"""Hook implementations: what nasplug-amended registers."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl
from nasplug_amended import presets
from nasplug_amended.amended import AmendedArchOptimizer
from nasplug_amended.darts import DartsFirstOrder, DartsSecondOrder
from nasplug_amended.spaces import DartsS1Space, DartsS2Space


@hookimpl
def nasplug_arch_optimizers():
    return {"darts-1st": DartsFirstOrder, "darts-2nd": DartsSecondOrder, "amended": AmendedArchOptimizer}


@hookimpl
def nasplug_search_spaces():
    return {"darts-s1": DartsS1Space, "darts-s2": DartsS2Space}


@hookimpl
def nasplug_strategies():
    return {"darts": presets.darts, "darts-2nd": presets.darts_2nd, "amended": presets.amended}
