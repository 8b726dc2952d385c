"""The search loop and the strategy presets it runs."""

from nasplug.search.run import SearchResult, SearchRun, SearchState
from nasplug.search.spec import StrategySpec

__all__ = ["SearchResult", "SearchRun", "SearchState", "StrategySpec"]
