"""The measured latency model: positive timings, an additive per-op table, a cache that spares remeasuring."""

from __future__ import annotations

import json

import pytest
import torch

from nasplug import registry as registry_module
from nasplug.errors import ConfigError
from nasplug.measured_latency import RUN_TABLE, MeasuredLatencyModel

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


def test_on_a_user_model_only_the_decisions_a_child_keeps_are_summed_and_measured(tmp_path):
    """A Repeat block beyond the chosen depth is not in the child: its choices cost nothing there, and its costs
    are measured only on backgrounds deep enough to have it."""
    from nasplug.nn import model_space

    user = model_space("nasplug.testing.model:TinyChoiceNet")
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
    assert float(model.costs["blocks/1/merge"][1]) == pytest.approx(1.0)
    assert float(model.costs["blocks/1/conv/kernel_size"][1]) == pytest.approx(1.0)
    other = {**shallow, "blocks/1/merge": 1, "blocks/0/conv/kernel_size": 1}
    assert model.predict(other) == model.predict(shallow)
    assert model.predict({**deep, "blocks/1/merge": 1}) == pytest.approx(model.predict(deep) + 1.0)
