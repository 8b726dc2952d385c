"""Supernet ranking: Kendall tau on known rankings, the random cells it is taken over."""

import math

import numpy as np
import pytest
from scipy import stats

from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.ranking import kendall_tau, random_cells


@pytest.mark.parametrize("a, b, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),          # same order
    ([1, 2, 3, 4], [40, 30, 20, 10], -1.0),         # reversed
    ([1, 2, 3, 4], [1, 3, 2, 4], 4 / 6),            # one discordant pair of six
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 6 / 10),     # two discordant pairs of ten
])
def test_kendall_tau_on_known_rankings(a, b, expected):
    assert kendall_tau(a, b) == pytest.approx(expected)


def test_kendall_tau_is_scipys_tau_b_with_ties_and_ignores_nan_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 50).astype(float), rng.integers(0, 5, 50).astype(float)
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)
    a_nan, b_nan = np.append(a, np.nan), np.append(b, 3.0)
    assert kendall_tau(a_nan, b_nan) == pytest.approx(kendall_tau(a, b))


@pytest.mark.parametrize("a, b", [([1.0], [2.0]), ([1, 1, 1], [1, 2, 3]), ([np.nan, 1], [1, 2])])
def test_kendall_tau_without_an_ordering_is_nan(a, b):
    assert math.isnan(kendall_tau(a, b))


def test_kendall_tau_rejects_unpaired_samples():
    with pytest.raises(ConfigError, match="one length"):
        kendall_tau([1, 2, 3], [1, 2])


def test_random_cells_are_distinct_and_the_same_for_a_seed():
    space = NB201Space(C=2, N=1)
    cells = random_cells(space, 200, seed=3)
    assert len({tuple(sorted(c.items())) for c in cells}) == 200
    assert cells == random_cells(space, 200, seed=3)
    assert cells != random_cells(space, 200, seed=4)
    with pytest.raises(ConfigError, match="at least 2"):
        random_cells(space, 1)
