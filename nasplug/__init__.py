"""nasplug: neural architecture search as one small kernel and installable plugins."""

import logging

# library code logs and never prints; with logging unconfigured nothing is written (see nasplug.logs)
logging.getLogger(__name__).addHandler(logging.NullHandler())

from nasplug.components import ArchOptimizer, ArchParameters, Benchmark, LatencyModel, Reward, Sampler, Selection, apply_selection
from nasplug.config import SearchConfig, TrainConfig
from nasplug.errors import (AmbiguousComponentError, ConfigError, DuplicateComponentError, GenotypeError, NasplugError, PluginLoadError,
                            UnknownComponentError)
from nasplug.hookspecs import hookimpl
from nasplug.pipeline import Pipeline
from nasplug.search import SearchResult, SearchRun, SearchState, StrategySpec
from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet

__version__ = "0.1.0"

__all__ = [
    "AmbiguousComponentError", "ArchOptimizer", "ArchParameters", "Benchmark", "ConfigError", "Decision", "DuplicateComponentError", "Genotype",
    "GenotypeError", "LatencyModel", "NasplugError", "Pipeline", "PluginLoadError", "Reward", "Sampler",
    "SearchConfig", "SearchResult", "SearchRun", "SearchSpace", "SearchState", "Selection", "StrategySpec",
    "Supernet", "TrainConfig", "UnknownComponentError", "apply_selection", "hookimpl",
]
