"""TuNAS's per-unit lookup table on a user's model (``nasplug.nn.model_space``): units, entries, sums, caching."""

import json

import pytest
import torch
from torch import nn

from nasplug import registry
from nasplug.nn import model_space
from nasplug_tunas.latency import RUN_TABLE, LookupLatencyModel

TINY = "nasplug.testing.model:TinyChoiceNet"
SHAPE = (1, 8, 8)


class CountingLookup(LookupLatencyModel):
    """A deterministic stand-in for the clock: a unit 'costs' its parameters plus its input elements, plus a
    count of its calls (so a mix-up of two units or of a unit's inputs changes the entry)."""

    calls: list

    def time_call(self, module, inputs):
        self.calls.append(module)
        return cost_of(module, inputs)


def cost_of(module, inputs) -> float:
    flat = [t for x in inputs for t in (x if isinstance(x, list) else [x])]
    return float(sum(p.numel() for p in module.parameters()) + sum(t[0].numel() for t in flat)
                 + 1000 * len(list(module.modules())))


@pytest.fixture(scope="module")
def space():
    return model_space(TINY)


@pytest.fixture(scope="module")
def counted(space):
    model = CountingLookup(rounds=2, repeats=1, warmup=0)
    model.calls = []
    model.prepare(space, SHAPE, 10)
    return model


def fake_cost(space, cfg):
    return cost_of(space.build_unit(cfg, 10), space.unit_inputs(cfg, 1))


def test_each_entry_is_its_own_units_timed_cost(space, counted):
    units = space.latency_units(SHAPE)
    configs = [cfg for cs in units.values() for cfg in cs]
    assert set(counted.table) == {space.unit_key(cfg) for cfg in configs}
    assert len(counted.calls) == 2 * len(counted.table)  # every entry timed once per round, nothing else
    for cfg in configs:
        assert counted.table[space.unit_key(cfg)] == fake_cost(space, cfg)
    # the units: the fixed modules, the choice modules and each repeated block; widths come from upstream
    assert set(units) == {"stem", "stem_bn", "op", "blocks.blocks.0", "blocks.blocks.1", "pool", "classifier"}
    assert {cfg["inputs"][0][0] for cfg in units["pool"]} == {4, 8}
    assert len(units["blocks.blocks.0"]) == 2 * 2 * 2  # width x kernel x which input it keeps


def test_a_childs_prediction_is_the_sum_of_its_units_entries(space, counted):
    seen_depths = set()
    for seed in range(6):
        choices = space.sample(torch.Generator().manual_seed(seed))
        configs = space.layer_configs(choices, SHAPE)
        assert counted.predict(choices) == sum(counted.table[space.unit_key(c)] for c in configs)
        seen_depths.add(len([c for c in configs if c["unit"].startswith("blocks.")]))
        assert len(configs) == 5 + choices["blocks"]  # a block beyond the chosen depth is not in the child
    assert len(seen_depths) > 1
    deeper = {**{d.name: 0 for d in space.decisions}, "blocks": 2}
    assert counted.predict(deeper) > counted.predict({**deeper, "blocks": 0})


def test_a_unit_is_the_childs_own_module_at_the_shape_it_receives_there(space):
    choices = {"width": 1, "op": 0, "blocks": 2, "blocks/0/conv/kernel_size": 1, "blocks/0/merge": 1,
               "blocks/1/conv/kernel_size": 0, "blocks/1/merge": 0}
    child = space.build_child(space.genotype_from_choices(choices), SHAPE, 10).eval()
    received = {}
    where = {"stem": child.stem, "op": child.op, "blocks.blocks.1": child.blocks[1], "classifier": child.classifier}
    for path, module in where.items():
        module.register_forward_pre_hook(lambda m, args, path=path: received.__setitem__(path, args))
    with torch.no_grad():
        child(torch.zeros((1,) + SHAPE))
    configs = {c["unit"]: c for c in space.layer_configs(choices, SHAPE)}
    for path, module in where.items():
        unit = space.build_unit(configs[path], 10)
        assert repr(unit) == repr(module)
        assert [tuple(x.shape) for x in space.unit_inputs(configs[path], 1)] == \
            [tuple(x.shape) for x in received[path]]
    assert isinstance(space.build_unit(configs["op"], 10), nn.Conv2d)


def test_the_table_is_cached_in_the_run_directory_and_reused(space, tmp_path, monkeypatch):
    first = registry.get("latency_model", "lookup", repeats=1, warmup=0, rounds=1)
    first.cache_dir = str(tmp_path)
    first.prepare(space, SHAPE, 10)
    data = json.loads((tmp_path / RUN_TABLE).read_text())
    assert data["space"] == "model" and data["space_options"]["model"] == TINY and set(data["entries"]) == \
        set(first.table)
    again = registry.get("latency_model", "lookup", repeats=1, warmup=0, rounds=1)
    again.cache_dir = str(tmp_path)
    monkeypatch.setattr(again, "measure", lambda: pytest.fail("a matching table must not be re-measured"))
    again.prepare(space, SHAPE, 10)
    choices = space.sample(torch.Generator().manual_seed(3))
    assert again.predict(choices) == first.predict(choices) > 0


def test_tracing_a_child_leaves_the_searchs_random_stream_alone(space):
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    space.layer_configs(space.sample(torch.Generator().manual_seed(9)), SHAPE)
    space.build_unit(space.latency_units(SHAPE)["stem"][0], 10)
    assert torch.equal(torch.rand(3), expected)
