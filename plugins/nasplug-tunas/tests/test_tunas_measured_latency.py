"""The kernel's ``measured`` model on a mobile space: the lookup table's units, timed its own way, summed per child."""

import pytest
import torch

from nasplug import registry
from nasplug.measured_latency import MeasuredLatencyModel
from nasplug_tunas.mobile_space import unit_key

SHAPE = (1, 8, 8)


class ModuleCount(MeasuredLatencyModel):
    """A deterministic clock: a module (unit or child) 'takes' its parameter count plus 100 per submodule."""

    def _module_runner(self, module, inputs):
        cost = float(sum(p.numel() for p in module.parameters()) + 100 * len(list(module.modules())))
        return lambda: cost

    def time_forward(self, run):
        return [run()]


@pytest.fixture(scope="module")
def space():
    return registry.get("space", "proxylessnas", width=0.25, layers=(1, 2, 1, 1, 1, 1))


def test_on_a_mobile_space_the_entries_are_its_units_and_a_skipped_layer_costs_nothing(space):
    model = ModuleCount(repeats=1, warmup=0, rounds=1, backgrounds=2)
    model.prepare(space, SHAPE, 10)
    assert set(model.units) == {unit_key(c) for cs in space.latency_units(SHAPE).values() for c in cs}
    choices = space.sample(torch.Generator().manual_seed(0))
    kept, skipped = {**choices, "L03:skip": 0}, {**choices, "L03:skip": 1}
    for arch in (kept, skipped):
        configs = space.layer_configs(arch, SHAPE)
        assert model.predict(arch) == pytest.approx(model.base + sum(
            model.units[unit_key(c)] for c in configs if not (c["kind"] == "layer" and c["skip"])))
    assert model.predict(skipped) < model.predict(kept)
    base, costs = model.decision_costs()
    assert set(costs) == set(space.decision_names())
