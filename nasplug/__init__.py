"""nasplug: neural architecture search as one small kernel and installable plugins.

The public names below are imported on first use (PEP 562), so that
``import nasplug`` and the ``nasplug`` command's ``--help`` do not pay for
importing torch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

# library code logs and never prints; with logging unconfigured nothing is written (see nasplug.logs)
logging.getLogger(__name__).addHandler(logging.NullHandler())

from nasplug.errors import (AmbiguousComponentError, ConfigError, DuplicateComponentError, GenotypeError, NasplugError,  # noqa: E402
                            PluginLoadError,
                            UnknownComponentError)
from nasplug.hookspecs import hookimpl
from nasplug.lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("ArchOptimizer", "ArchParameters", "Benchmark", "LatencyModel", "Reward", "Sampler",
                     "SearchState", "Selection", "accuracy", "apply_selection"), "nasplug.components"),
    **dict.fromkeys(("SearchConfig", "TrainConfig"), "nasplug.config"),
    "Pipeline": "nasplug.pipeline",
    **dict.fromkeys(("SearchResult", "SearchRun", "StrategySpec"), "nasplug.search"),
    **dict.fromkeys(("Decision", "Genotype", "SearchSpace", "Supernet"), "nasplug.spaces.base"),
}

__all__ = [
    "AmbiguousComponentError", "ArchOptimizer", "ArchParameters", "Benchmark", "ConfigError", "Decision", "DuplicateComponentError", "Genotype",
    "GenotypeError", "LatencyModel", "NasplugError", "Pipeline", "PluginLoadError", "Reward", "Sampler",
    "SearchConfig", "SearchResult", "SearchRun", "SearchSpace", "SearchState", "Selection", "StrategySpec",
    "Supernet", "TrainConfig", "UnknownComponentError", "accuracy", "apply_selection", "hookimpl",
]


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from nasplug.components import (ArchOptimizer, ArchParameters, Benchmark, LatencyModel, Reward, Sampler,
                                    SearchState, Selection, accuracy, apply_selection)
    from nasplug.config import SearchConfig, TrainConfig
    from nasplug.pipeline import Pipeline
    from nasplug.search import SearchResult, SearchRun, StrategySpec
    from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet
