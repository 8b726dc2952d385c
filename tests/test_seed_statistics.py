"""The statistics every search-quality claim carries: mean, std, worst seed and a bootstrap 95% interval."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats

from nasplug.seed_statistics import bootstrap_ci, seed_summary


def test_two_values_give_their_own_range():
    """Resampled means of (a, b) are a, (a+b)/2, b with probability 1/4, 1/2, 1/4: the 2.5/97.5 percentiles are a, b."""
    assert bootstrap_ci([86.0, 92.0]) == (86.0, 92.0)


def test_a_constant_sample_and_one_value_give_a_point():
    assert bootstrap_ci([91.5] * 7) == (91.5, 91.5)
    assert bootstrap_ci([88.0]) == (88.0, 88.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_a_large_normal_sample_matches_the_normal_interval_and_scipy():
    values = np.random.default_rng(1).normal(90.0, 2.0, size=400)
    low, high = bootstrap_ci(values)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half, abs=0.03) and high == pytest.approx(values.mean() + half, abs=0.03)
    ref = stats.bootstrap((values,), np.mean, method="percentile", n_resamples=10_000, random_state=0).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.03) and high == pytest.approx(ref.high, abs=0.03)


def test_the_interval_is_reproducible_and_covers_the_mean():
    values = [92.2, 67.9, 91.8, 86.7, 86.8, 86.7]
    low, high = bootstrap_ci(values)
    assert (low, high) == bootstrap_ci(values)
    assert low < statistics.fmean(values) < high and low >= min(values) and high <= max(values)


def test_seed_summary_by_hand_and_unfinished_seeds_left_out():
    row = seed_summary([90.0, None, 92.0, math.nan, 86.0])
    assert row["seeds"] == 3 and row["mean"] == pytest.approx(89.3333333)
    assert row["std"] == pytest.approx(statistics.stdev([90.0, 92.0, 86.0])) and row["worst"] == 86.0
    assert row["ci95"][0] <= row["mean"] <= row["ci95"][1]
    assert seed_summary([])["seeds"] == 0 and math.isnan(seed_summary([])["mean"])
    assert seed_summary([93.1])["std"] == 0.0


@pytest.mark.parametrize("kwargs", [{"confidence": 1.0}, {"confidence": 0}, {"resamples": 0}, {"resamples": True}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        bootstrap_ci([1.0, 2.0], **kwargs)
