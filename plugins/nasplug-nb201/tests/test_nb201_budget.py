"""The exact best-under-budget query against a brute-force scan."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from nasplug.errors import ConfigError


def brute_force(table, dataset, device, budget):
    best = None
    for i in range(len(table)):
        acc = table.accuracy[dataset][i]
        lat = table.latency[device][i]
        if math.isnan(acc) or math.isnan(lat) or lat > budget:
            continue
        if best is None or acc > best[1]:  # strict: ties keep the lowest index
            best = (i, acc)
    return best


@settings(max_examples=15, deadline=None)
@given(budget=st.floats(1.0, 21.0), device=st.sampled_from(["dev", "holey"]))
def test_synthetic_matches_scan(synthetic_table, budget, device):
    expected = brute_force(synthetic_table, "cifar10", device, budget)
    if expected is None:
        with pytest.raises(ConfigError):
            synthetic_table.best_under_budget(budget, device)
        return
    got = synthetic_table.best_under_budget(budget, device)
    assert (got.index, got.accuracy) == expected
    assert got.latency <= budget


@pytest.mark.parametrize("device", ["pixel3", "raspi4", "gold_6226", "titanxp_1"])
@pytest.mark.parametrize("q", [5, 25, 50, 75])
def test_real_matches_scan(real_table, device, q):
    budget = real_table.latency_percentile(device, q)
    got = real_table.best_under_budget(budget, device, "cifar10")
    assert (got.index, got.accuracy) == brute_force(real_table, "cifar10", device, budget)


def test_budget_below_every_cell_is_an_error(synthetic_table):
    with pytest.raises(ConfigError, match="no cell"):
        synthetic_table.best_under_budget(0.5, "dev")
    with pytest.raises(ConfigError, match="finite"):
        synthetic_table.best_under_budget(float("nan"), "dev")
