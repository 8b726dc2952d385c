"""The measured latency model: positive timings, a per-unit table where a space has units and an additive
per-decision table where it has none, a cache that spares remeasuring."""

from __future__ import annotations

import json

import pytest
import torch

from nasplug import registry as registry_module
from nasplug.errors import ConfigError
from nasplug.measured_latency import RUN_TABLE, TABLE_FORMAT, MeasuredLatencyModel
from nasplug.unit_latency import UNIT_PROTOCOL, has_units

TINY = "nasplug.testing.model:TinyChoiceNet"

SHAPE = (1, 8, 8)
FAST = {"repeats": 2, "warmup": 0, "rounds": 2, "backgrounds": 1}


@pytest.fixture
def space():
    return registry_module.default_registry().get("space", "nb201", C=4, N=1)


@pytest.fixture
def counted(monkeypatch):
    """The number of children timed, counted at the one place a child is run under the clock."""
    calls = []
    original = MeasuredLatencyModel.time_forward

    def time_forward(self, run):
        calls.append(1)
        return original(self, run)

    monkeypatch.setattr(MeasuredLatencyModel, "time_forward", time_forward)
    return calls


def prepared(space, cache_dir, **options):
    model = MeasuredLatencyModel(**{**FAST, **options})
    model.cache_dir = cache_dir
    model.prepare(space, SHAPE, 10)
    return model


def test_timings_are_positive_and_the_table_is_their_in_place_differences(space, tmp_path, counted):
    model = prepared(space, tmp_path)
    assert counted  # it measured
    assert not has_units(space) and model.units == {}  # nb201 lists no units: the per-decision table
    assert model.children and all(ms > 0 for ms in model.children.values())
    # (the base is an intercept: the child with every decision at its first choice, extrapolated; any sign)
    for decision in space.decisions:
        row = model.costs[decision.name]
        assert len(row) == len(decision.choices) and row[0] == 0  # each choice relative to the first
    # with one background the table reproduces that child's measured time exactly: the base plus its entries
    background = space.sample(torch.Generator().manual_seed(0))
    key = str(space.genotype_from_choices(background))
    assert model.predict(background) == pytest.approx(model.children[key], rel=1e-9)
    # and a child one switch away from it measures what the table says (its entry is that difference)
    d = space.decisions[-1]
    switched = {**background, d.name: (background[d.name] + 1) % len(d.choices)}
    assert model.predict(switched) == pytest.approx(model.children[str(space.genotype_from_choices(switched))])


def test_prediction_is_the_sum_of_the_per_op_entries(space, tmp_path):
    model = prepared(space, tmp_path)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        choices = space.sample(generator)
        by_hand = model.base + sum(float(model.costs[d.name][choices[d.name]]) for d in space.decisions)
        assert model.predict(choices) == pytest.approx(max(by_hand, 0.0), abs=1e-12)
        # switching one decision changes the prediction by exactly the difference of its two entries
        d = space.decisions[0]
        other = {**choices, d.name: (choices[d.name] + 1) % len(d.choices)}
        change = float(model.costs[d.name][other[d.name]] - model.costs[d.name][choices[d.name]])
        if min(model.predict(choices), model.predict(other)) > 0:
            assert model.predict(other) - model.predict(choices) == pytest.approx(change, abs=1e-9)
    base, costs = model.decision_costs()
    assert base == model.base and set(costs) == set(space.decision_names())


def test_a_second_model_on_the_same_run_directory_does_not_remeasure(space, tmp_path, counted):
    first = prepared(space, tmp_path)
    measured = len(counted)
    assert (tmp_path / RUN_TABLE).exists()
    second = prepared(space, tmp_path)
    assert len(counted) == measured  # nothing timed again
    assert second.base == first.base and second.children == first.children
    for name in first.costs:
        assert torch.equal(second.costs[name], first.costs[name])
    choices = space.sample(torch.Generator().manual_seed(2))
    first.measure(choices)
    after_measure = len(counted)
    third = prepared(space, tmp_path)
    assert third.measure(choices) == first.measure(choices) and len(counted) == after_measure


def test_another_input_or_protocol_is_measured_again(space, tmp_path, counted):
    prepared(space, tmp_path)
    before = len(counted)
    prepared(space, tmp_path, repeats=3)
    assert len(counted) > before
    assert json.loads((tmp_path / RUN_TABLE).read_text())["identity"]["repeats"] == 3


@pytest.mark.parametrize("options, message", [
    ({"backend": "tensorrt"}, "backend must be one of torch, onnxruntime, got 'tensorrt'"),
    ({"repeats": 0}, "repeats must be an integer >= 1, got 0"),
    ({"statistic": "mean"}, "statistic must be one of q25, median, got 'mean'"),
])
def test_bad_options_are_refused_naming_what_is_allowed(options, message):
    with pytest.raises(ConfigError, match=message):
        MeasuredLatencyModel(**options)


def test_passes_the_latency_model_conformance_checks():
    from nasplug.testing import check_latency_model

    check_latency_model("measured")


@pytest.mark.slow
def test_usable_as_the_tunas_reward_cost_and_kept_for_a_resumed_search(tmp_path, monkeypatch):
    reg = registry_module.default_registry()
    if not reg.knows("strategy", "tunas"):
        pytest.skip("the nasplug-tunas plugin is not installed")
    from nasplug.search.run import SearchRun, merged_config

    config = merged_config(dict(space="nb201", space_options={"C": 4, "N": 1}, strategy="tunas", data="digits",
                                epochs=2, steps_per_epoch=2, eval_batches=1, latency_model="measured",
                                latency_options=FAST, latency_target=1.0, runs_root="unused"))
    run = SearchRun(config, run_dir=tmp_path / "run")
    run.run_epoch()
    run.save()
    assert isinstance(run.latency_model, MeasuredLatencyModel) and (tmp_path / "run" / RUN_TABLE).exists()
    assert "reward" in run.history[-1]
    monkeypatch.setattr(MeasuredLatencyModel, "time_forward", lambda self, run: pytest.fail("resume remeasured"))
    resumed = SearchRun.resume(tmp_path / "run")
    assert resumed.latency_model.base == run.latency_model.base
    resumed.run()


class WithoutUnits:
    """A space as given, less the unit protocol: the measured model must fall back to its per-decision table."""

    def __init__(self, space):
        self._space = space

    def __getattr__(self, name):
        if name in UNIT_PROTOCOL:
            raise AttributeError(name)
        return getattr(self._space, name)


def test_without_units_only_the_decisions_a_child_keeps_are_summed_and_measured():
    """A Repeat block beyond the chosen depth is not in the child: its choices cost nothing there, and its costs
    are measured only on backgrounds deep enough to have it."""
    from nasplug.nn import model_space

    user = WithoutUnits(model_space(TINY))
    assert not has_units(user)
    shallow = {d.name: 0 for d in user.decisions}  # depth 0: neither block is in the child
    assert user.active_decisions(shallow) == {"width", "op", "blocks"}
    deep = {**shallow, "blocks": 2}
    assert {"blocks/1/conv/kernel_size", "blocks/1/merge"} <= user.active_decisions(deep)
    model = MeasuredLatencyModel(**{**FAST, "backgrounds": 2})
    # a fake clock: a child costs 1 plus the choice indices of the decisions it keeps, so a cost measured on a
    # background without the block would be 0, and the entry an average below 1
    model._time_all = lambda archs: {key: 1.0 + sum(v for name, v in c.items() if name in user.active_decisions(c))
                                     for key, c in archs.items()}
    model.prepare(user, SHAPE, 10)
    assert model.units == {} and set(model.costs) == set(user.decision_names())
    assert float(model.costs["blocks/1/merge"][1]) == pytest.approx(1.0)
    assert float(model.costs["blocks/1/conv/kernel_size"][1]) == pytest.approx(1.0)
    other = {**shallow, "blocks/1/merge": 1, "blocks/0/conv/kernel_size": 1}
    assert model.predict(other) == model.predict(shallow)
    assert model.predict({**deep, "blocks/1/merge": 1}) == pytest.approx(model.predict(deep) + 1.0)


def cost_of(module, inputs) -> float:
    """A deterministic stand-in for the clock: parameters plus input elements plus 1000 per module, so a mix-up
    of two units, or of a unit's inputs, changes the entry."""
    flat = [t for x in inputs for t in (x if isinstance(x, list) else [x])]
    return float(sum(p.numel() for p in module.parameters()) + sum(t[0].numel() for t in flat)
                 + 1000 * len(list(module.modules())))


class FakeClock(MeasuredLatencyModel):
    """Times a module (a unit or a whole child) as :func:`cost_of` says, once per round; counts the timings."""

    def _module_runner(self, module, inputs):
        cost = cost_of(module, inputs)
        return lambda: cost

    def time_forward(self, run):
        self.timed.append(run())
        return [run()]


def fake_prepared(space, cache_dir, **options):
    model = FakeClock(**{**FAST, "backgrounds": 2, **options})
    model.timed = []
    model.cache_dir = cache_dir
    model.prepare(space, SHAPE, 10)
    return model


@pytest.fixture(scope="module")
def user():
    from nasplug.nn import model_space

    return model_space(TINY)


def test_on_a_user_model_the_entries_are_per_unit_configuration_and_a_child_sums_its_units(user, tmp_path):
    assert has_units(user)
    model = fake_prepared(user, tmp_path)
    configs = [cfg for cs in user.latency_units(SHAPE).values() for cfg in cs]
    assert set(model.units) == {user.unit_key(cfg) for cfg in configs} and model.costs == {}
    for cfg in configs:  # each entry is its own unit, built at the shapes it receives in a child, timed
        assert model.units[user.unit_key(cfg)] == cost_of(user.build_unit(cfg, 10), user.unit_inputs(cfg, 1))
    # every unit and the two background children timed once per round, nothing else
    assert len(model.timed) == FAST["rounds"] * (len(model.units) + 2) and len(model.children) == 2
    # the base: the background children's (the seed's first two random architectures) mean time beyond their units
    generator = torch.Generator().manual_seed(model.seed)
    backgrounds = [user.sample(generator) for _ in range(2)]
    assert set(model.children) == {str(user.genotype_from_choices(c)) for c in backgrounds}
    beyond = [model.children[str(user.genotype_from_choices(c))]
              - sum(model.units[user.unit_key(cfg)] for cfg in user.layer_configs(c, SHAPE)) for c in backgrounds]
    assert model.base == pytest.approx(sum(beyond) / 2)
    depths = set()
    for seed in range(6):
        choices = user.sample(torch.Generator().manual_seed(seed))
        configs = user.layer_configs(choices, SHAPE)
        depths.add(choices["blocks"])
        assert model.predict(choices) == pytest.approx(model.base + sum(model.units[user.unit_key(c)]
                                                                        for c in configs))
    assert len(depths) > 1
    # a block's entries are keyed on the width it receives from upstream (the per-decision form could not say so)
    block = user.latency_units(SHAPE)["blocks.blocks.0"]
    by_width = {width: {model.units[user.unit_key(c)] for c in block if c["inputs"][0][0] == width} for width in (4, 8)}
    assert by_width[4] and by_width[8] and not by_width[4] & by_width[8]


def test_a_user_models_additive_form_is_the_least_squares_fit_of_its_unit_sums(user, tmp_path):
    model = fake_prepared(user, tmp_path)
    base, costs = model.decision_costs()
    assert set(costs) == set(user.decision_names())
    assert all(len(costs[d.name]) == len(d.choices) and float(costs[d.name][0]) == 0 for d in user.decisions)
    generator = torch.Generator().manual_seed(7)
    archs = [user.sample(generator) for _ in range(40)]
    predicted = torch.tensor([model.predict(c) for c in archs], dtype=torch.float64)
    additive = torch.tensor([base + sum(float(costs[n][k]) for n, k in c.items()) for c in archs],
                            dtype=torch.float64)
    # the fit explains most of the spread of the unit sums (a wrong or unfitted form would not)
    assert float(((predicted - additive) ** 2).mean()) < 0.1 * float(predicted.var())
    assert model.decision_costs() is model.decision_costs()  # fitted once


def test_a_user_models_unit_table_is_cached_and_reused(user, tmp_path):
    first = fake_prepared(user, tmp_path)
    data = json.loads((tmp_path / RUN_TABLE).read_text())
    assert data["identity"]["format"] == TABLE_FORMAT == "nasplug/measured-latency-v3"
    assert data["units"] == first.units and data["costs"] == {}
    second = fake_prepared(user, tmp_path)
    assert second.timed == []  # nothing timed again
    assert second.units == first.units and second.base == first.base and second.children == first.children
    choices = user.sample(torch.Generator().manual_seed(4))
    assert second.predict(choices) == first.predict(choices)
    data["identity"]["format"] = "nasplug/measured-latency-v2"  # a table of the per-decision format: remeasured
    (tmp_path / RUN_TABLE).write_text(json.dumps(data))
    assert fake_prepared(user, tmp_path).timed


def test_a_user_models_units_run_with_onnxruntime(user, tmp_path):
    """Units that take a list of tensors (an InputChoice) are exported with one input per tensor."""
    pytest.importorskip("onnxruntime")
    model = MeasuredLatencyModel(backend="onnxruntime", **{**FAST, "rounds": 1, "repeats": 1})
    model.prepare(user, SHAPE, 10)
    assert any("merge" in key for key in model.units)
    assert all(ms > 0 for ms in model.units.values()) and len(model.children) == model.backgrounds
