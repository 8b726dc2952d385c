"""Fixtures: the real table (from $NASPLUG_NB201_DIR, skipped when absent) and a synthetic full table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasplug.spaces.nb201 import NB201Genotype
from nasplug.spaces.ops import NB201_OPS


@pytest.fixture(scope="session")
def nb201_dir():
    from nasplug_nb201.loading import ENV_DIR, default_dir

    path = default_dir()
    if not (path / "accuracy.csv").exists():
        pytest.skip(f"NAS-Bench-201 CSV table not found at {path}; set {ENV_DIR}=DIR (a folder with "
                    f"accuracy.csv and latency_ms.csv) to run this test")
    return path


@pytest.fixture(scope="session")
def real_table(nb201_dir):
    from nasplug_nb201.loading import load_table

    return load_table(nb201_dir)


def all_strings(order_seed: int = 0) -> list[str]:
    """Every NAS-Bench-201 cell string, in a shuffled order (so row != base-5 code)."""
    cells = [NB201Genotype(tuple(NB201_OPS[o] for o in ops)).to_string()
             for ops in itertools.product(range(len(NB201_OPS)), repeat=6)]
    order = np.random.default_rng(order_seed).permutation(len(cells))
    return [cells[i] for i in order]


@pytest.fixture(scope="session")
def synthetic_table():
    """A full table with random accuracies and two latency columns (one with missing values)."""
    from nasplug_nb201.table import NB201Table

    rng = np.random.default_rng(1)
    strings = all_strings()
    n = len(strings)
    lat = rng.uniform(1.0, 20.0, n)
    holes = lat.copy()
    holes[rng.choice(n, 500, replace=False)] = np.nan
    return NB201Table(strings, {"cifar10": rng.uniform(10, 95, n), "cifar100": rng.uniform(1, 70, n)},
                      {"dev": lat, "holey": holes}, source="synthetic")
