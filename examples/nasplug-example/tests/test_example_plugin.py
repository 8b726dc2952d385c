"""Tests a third-party author would write: discovery, the contract, and one real search.

Everything is imported from ``nasplug`` and ``nasplug.testing``, the public API.
"""

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug import ArchParameters, Pipeline, SearchState, registry
from nasplug.testing import cases


def test_entry_point_discovered():
    reg = registry.reload()
    assert reg.entry("space", "nasplug-example:chain").plugin == "nasplug-example"
    assert reg.entry("sampler", "nasplug-example:epsilon-greedy").plugin == "nasplug-example"
    assert reg.entry("reward", "nasplug-example:linear-cost").plugin == "nasplug-example"


# the conformance kit: the same checks as `python -m nasplug.testing nasplug-example`
@pytest.mark.parametrize("case", cases("nasplug-example"), ids=str)
def test_component_keeps_the_contract(case):
    case.run_in_pytest()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_chain_genotype_round_trip(indices):
    space = registry.get("space", "chain", layers=3, C=4)
    choices = {f"layer{i}": k for i, k in enumerate(indices)}
    genotype = space.genotype_from_choices(choices)
    assert space.choices_from_genotype(space.genotype_from_json(genotype.to_json())) == choices


def test_epsilon_zero_is_greedy_and_epsilon_one_explores():
    space = registry.get("space", "chain", layers=2, C=4)
    arch = ArchParameters(space.decisions, init_std=0.0)
    with torch.no_grad():
        arch["layer0"][3] = 5.0
    state = SearchState(space, torch.Generator().manual_seed(0), epochs=1, steps_per_epoch=1)
    greedy = registry.get("sampler", "epsilon-greedy", epsilon=0.0)
    assert all(greedy.sample(arch, state)["layer0"].index == 3 for _ in range(20))
    explore = registry.get("sampler", "epsilon-greedy", epsilon=1.0)
    seen = {explore.sample(arch, state)["layer0"].index for _ in range(200)}
    assert seen == set(range(5))


def test_chain_space_searches_with_kernel_random_strategy(tmp_path):
    result = Pipeline(space="chain", strategy="random", data="digits", epochs=2, space_options={"layers": 3, "C": 8},
                      optimizer_options={"num_candidates": 5, "top_k": 2}, runs_root=str(tmp_path)).search()
    assert len(result.genotype.ops) == 3
    assert (result.run_dir / "genotype.json").exists()


def test_linear_cost_reward_needs_no_target(tmp_path):
    reward = registry.get("reward", "linear-cost", weight=0.5)
    assert reward(0.9, 0.2) == pytest.approx(0.8)
    result = Pipeline(space="chain", strategy="random", data="digits", epochs=1, steps_per_epoch=2,
                      space_options={"layers": 3, "C": 4}, optimizer_options={"num_candidates": 3, "top_k": 1},
                      reward="linear-cost", runs_root=str(tmp_path)).search()
    recorded = json.loads((result.run_dir / "config.json").read_text())
    assert recorded["reward"] == "nasplug-example:linear-cost" and recorded["latency_model"] == "nasplug:flops"
