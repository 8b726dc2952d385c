"""How well a trained supernet ranks cells: Kendall tau between shared-weight and table accuracy.

A weight-sharing search can only pick good cells if its supernet orders
cells the way stand-alone training does.  :func:`supernet_ranking` draws
``n`` distinct uniformly random cells (a fixed seed, so every supernet is
asked about the same cells), scores each with the run's shared weights on
the same first validation batches (:meth:`~nasplug.search.run.SearchRun.evaluate`:
batch statistics, no gradient), looks up its table accuracy and returns
Kendall's tau-b between the two.  The NAS-Bench-201 literature reports
0.5-0.6 for weight-sharing supernets trained to the end of a search.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from scipy import stats

from nasplug.errors import ConfigError
from nasplug_nb201.table import NB201Table


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two paired samples, ignoring pairs where either value is nan.

    nan when fewer than two finite pairs remain or either side is constant
    (no ordering to compare), rather than scipy's warning.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"kendall_tau needs two 1-d samples of one length, got shapes {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.kendalltau(x, y).statistic)


def random_cells(space, n: int, seed: int = 0) -> list[dict[str, int]]:
    """``n`` distinct uniformly random cells of ``space`` as choices, the same for the same seed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"a ranking needs at least 2 cells, got {n!r}")
    generator = torch.Generator().manual_seed(seed)
    seen, cells = set(), []
    for _ in range(n * 50):
        choices = space.sample(generator)
        key = tuple(sorted(choices.items()))
        if key not in seen:
            seen.add(key)
            cells.append(choices)
            if len(cells) == n:
                return cells
    raise ConfigError(f"found only {len(cells)} distinct cells of {n} in {n * 50} draws")


def supernet_ranking(run, table: NB201Table, n: int = 200, batches: int = 4, seed: int = 0,
                     dataset: str = "cifar10") -> dict[str, Any]:
    """Kendall tau between ``run``'s shared-weight validation accuracy and the table, over ``n`` random cells.

    ``run`` is a :class:`~nasplug.search.run.SearchRun` of the ``nb201``
    space (its supernet as trained so far); each cell is scored on the same
    first ``batches`` validation batches.
    """
    cells = random_cells(run.space, n, seed)
    shared = [run.evaluate(c, batches)[1] for c in cells]
    truth = [table.accuracy_of(c, dataset) for c in cells]
    return {"kendall_tau": kendall_tau(shared, truth), "cells": n, "batches": batches, "seed": seed,
            "dataset": dataset, "shared_accuracy": shared, "table_accuracy": truth}
