"""nasplug-zerocost: training-free proxies as a component kind (``proxy``) and the searches built on them."""

from nasplug_zerocost.proxies import PROXIES
from nasplug_zerocost.registered import resolve_proxies
from nasplug_zerocost.scoring import build_at_init, score_cell, vote
from nasplug_zerocost.search import CellScorer, TrainingFreeSearch

__all__ = ["PROXIES", "CellScorer", "TrainingFreeSearch", "build_at_init", "resolve_proxies", "score_cell", "vote"]
