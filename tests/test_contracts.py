"""Contract tests over every registered component, kernel's and installed plugins' alike (as timm does).

Each registered sampler must give a valid selection for every decision of
every kernel space; each reward must agree on floats and tensors; each
latency model that builds without options must be consistent with its own
additive form's shape.
"""

import pytest
import torch

from nasplug import registry
from nasplug.components import ArchParameters, LatencyModel, Reward, Sampler
from nasplug.errors import NasplugError
from nasplug.search.run import SearchState
from nasplug.search.spec import StrategySpec

REG = registry.default_registry()
SPACES = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}}


@pytest.mark.parametrize("sampler_name", REG.names("sampler"))
@pytest.mark.parametrize("space_name", list(SPACES))
def test_every_sampler_selects_every_decision(sampler_name, space_name):
    space = registry.get("space", space_name, **SPACES[space_name])
    sampler = registry.get("sampler", sampler_name)
    assert isinstance(sampler, Sampler)
    arch = ArchParameters(space.decisions, 1e-3, torch.Generator().manual_seed(0))
    state = SearchState(space, torch.Generator().manual_seed(0), epochs=2, steps_per_epoch=5)
    selections = sampler.sample(arch, state)
    assert set(selections) == set(space.decision_names())
    for decision in space.decisions:
        sel = selections[decision.name]
        assert sel.weights.shape == (len(decision.choices),)
        assert torch.isfinite(sel.weights).all()
        if sel.index is not None:
            assert 0 <= sel.index < len(decision.choices)
    net = space.build_supernet((1, 8, 8), 10)
    assert net(torch.randn(2, 1, 8, 8), selections).shape == (2, 10)


@pytest.mark.parametrize("name", REG.names("strategy"))
def test_every_strategy_names_installed_components(name):
    spec = REG.factory("strategy", name)
    spec = spec if isinstance(spec, StrategySpec) else spec()
    assert spec.sampler in REG.names("sampler"), spec.sampler
    assert spec.arch_optimizer in REG.names("arch_optimizer"), spec.arch_optimizer


@pytest.mark.parametrize("name", REG.names("reward"))
def test_every_reward_agrees_on_floats_and_tensors(name):
    reward = registry.get("reward", name, target=10.0)
    assert isinstance(reward, Reward)
    for quality, cost in [(0.9, 10.0), (0.5, 20.0), (0.7, 5.0)]:
        r_float = float(reward(quality, cost))
        r_tensor = reward(torch.tensor(quality), torch.tensor(cost))
        assert float(r_tensor) == pytest.approx(r_float, rel=1e-5)
    # at the target, a higher quality never gives a lower reward
    assert float(reward(0.9, 10.0)) >= float(reward(0.5, 10.0))


@pytest.mark.parametrize("name", REG.names("latency_model"))
def test_every_latency_model_predicts_and_has_an_additive_form(name):
    try:
        model = registry.get("latency_model", name)
    except NasplugError as exc:
        pytest.skip(f"{name} needs options to build: {exc}")
    assert isinstance(model, LatencyModel)
    space = registry.get("space", "nb201", C=4, N=1)
    try:
        model.prepare(space, (1, 8, 8), 10)
    except NasplugError as exc:
        pytest.skip(f"{name} does not support this space: {exc}")
    choices = space.sample(torch.Generator().manual_seed(0))
    assert model.predict(choices) > 0
    base, costs = model.decision_costs()
    assert set(costs) <= set(space.decision_names())
    for decision in space.decisions:
        if decision.name in costs:
            assert len(costs[decision.name]) == len(decision.choices)


@pytest.mark.parametrize("name", REG.names("space"))
def test_every_space_round_trips_a_sampled_genotype(name):
    try:
        space = registry.get("space", name)
    except NasplugError as exc:
        pytest.skip(f"{name} needs options: {exc}")
    choices = space.sample(torch.Generator().manual_seed(0))
    genotype = space.genotype_from_choices(choices)
    assert space.choices_from_genotype(space.genotype_from_json(genotype.to_json())) == choices
