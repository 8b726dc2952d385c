"""Every shipped strategy on a user's model (nasplug.nn), and a killed search on one resuming exactly."""

import json

import pytest
import torch

from nasplug import Pipeline, registry
from nasplug.nn import model_space
from nasplug.search.run import SearchRun, merged_config

TINY = "nasplug.testing.model:TinyChoiceNet"
RUN = dict(data="digits", epochs=1, steps_per_epoch=1, batch_size=16, threads=1, eval_batches=1)

#: options a strategy's preset needs on any space (its reward's latency target) or that keep it to seconds here
STRATEGY_OPTIONS = {
    # the preset's own latency model: TuNAS's per-unit lookup table, timed on the user's model
    "tunas": {"latency_target": 0.01},
    "random": {"optimizer_options": {"num_candidates": 4, "screen_batches": 1, "top_k": 2}},
    # the training-free searches score one cell per step: one cell in this one-step epoch
    "zerocost": {"optimizer_options": {"cells": 1}},
    "naswot": {"optimizer_options": {"cells": 1}},
    "tenas": {"optimizer_options": {"cells": 1}},
}


@pytest.fixture(scope="module")
def space():
    return model_space(TINY)


@pytest.mark.parametrize("strategy", registry.names("strategy"))
def test_each_shipped_strategy_runs_one_epoch_on_a_user_model(tmp_path, space, strategy):
    options = STRATEGY_OPTIONS.get(strategy, {})
    result = Pipeline(space=space, strategy=strategy, run_dir=tmp_path / "run", **RUN, **options).search()
    choices = space.choices_from_genotype(result.genotype)
    assert set(choices) == set(space.decision_names())
    assert (tmp_path / "run" / "genotype.json").exists() and len(result.history) == 1
    if "latency_target" in options:
        assert result.history[0]["derived_latency"] > 0  # the latency model timed the user's child


def test_tunas_preset_searches_a_user_model_with_its_lookup_table(tmp_path, space):
    """The plain preset: its lookup table times the model's units (every kind of choice) and is kept in the run."""
    from nasplug_tunas.latency import RUN_TABLE

    result = Pipeline(space=space, strategy="tunas", latency_target=0.01, run_dir=tmp_path / "run", **RUN).search()
    table = json.loads((tmp_path / "run" / RUN_TABLE).read_text())
    assert table["space"] == "model" and table["unit"] == "ms"
    units = {key.split("|")[0] for key in table["entries"]}
    assert {"op", "blocks.blocks.0", "blocks.blocks.1", "classifier"} <= units  # LayerChoice, Repeat's blocks
    assert any("merge" in key and "kernel_size" in key for key in table["entries"])  # InputChoice, kernel
    assert result.history[0]["derived_latency"] > 0


def test_flops_latency_model_counts_the_chosen_child(space):
    model = registry.get("latency_model", "flops")
    model.prepare(space, (1, 8, 8), 10)
    small = {d.name: 0 for d in space.decisions}
    big = {**small, "width": 1, "op": 0, "blocks": 2, "blocks/0/conv/kernel_size": 1,
           "blocks/1/conv/kernel_size": 1}
    from nasplug.metrics import count_macs
    for choices in (small, big):
        child = space.build_child(space.genotype_from_choices(choices), (1, 8, 8), 10)
        assert model.predict(choices) == pytest.approx(count_macs(child, torch.zeros(1, 1, 8, 8)) / 1e6)
    assert model.predict(big) > model.predict(small)


class Killed(Exception):
    pass


@pytest.mark.parametrize("strategy", ["gdas", "tunas"])
def test_a_killed_search_on_a_user_model_resumes_to_the_same_genotype(tmp_path, strategy):
    # the flops model: a timed table would differ between the uninterrupted run and the killed one
    latency = {"latency_model": "flops"} if strategy == "tunas" else {}
    options = dict(space="model", space_options={"model": TINY}, strategy=strategy, data="digits", epochs=3,
                   steps_per_epoch=3, batch_size=16, threads=1, eval_batches=1, seed=2,
                   runs_root=str(tmp_path), **STRATEGY_OPTIONS.get(strategy, {}), **latency)
    full = SearchRun(merged_config(options), run_dir=tmp_path / "full").run()

    def kill_in_epoch_2(run, event):
        if event == "step" and run.state.epoch == 1 and run.state.step_in_epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        SearchRun(merged_config(options), run_dir=tmp_path / "killed", callbacks=[kill_in_epoch_2]).run()
    resumed_run = SearchRun.resume(tmp_path / "killed")
    assert resumed_run.state.epoch == 1
    resumed = resumed_run.run()
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
