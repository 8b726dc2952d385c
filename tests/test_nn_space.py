"""A search space read from a user's model (nasplug.nn.model_space): decisions, genotypes, children, bad input."""

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from nasplug import Pipeline, registry
from nasplug.errors import ConfigError, GenotypeError, NasplugError
from nasplug.nn import (InputChoice, LayerChoice, MutableBatchNorm2d, MutableConv2d, Repeat, ValueChoice,
                        model_space)
from nasplug.testing import spaces as kit
from nasplug.testing.model import TinyChoiceNet

TINY = "nasplug.testing.model:TinyChoiceNet"


@pytest.fixture(scope="module")
def space():
    return model_space(TINY)


def test_decisions_are_named_by_label_or_module_path(space):
    names = space.decision_names()
    assert names[:3] == ["width", "op", "blocks"]  # labels, then module paths ('.' written '/')
    assert "blocks/0/conv/kernel_size" in names and "blocks/1/merge" in names
    assert space.decision("op").choices == ("conv3", "pool", "skip")
    assert all("." not in n for n in names)


def test_the_space_passes_the_conformance_kits_space_rules():
    kit.check_space("model")
    kit.check_space("model", model=TINY, input_shape=[1, 8, 8])


def test_a_space_named_by_import_path_resolves_through_the_registry():
    reg = registry.default_registry()
    built = reg.get("space", "nasplug.nn.space:model_space", model=TINY)
    assert built.decisions == reg.get("space", "model", model=TINY).decisions
    again = reg.get("space", "import-path:nasplug.nn.space:model_space", model=TINY)  # the recorded qualified form
    assert again.options() == built.options()
    with pytest.raises(NasplugError, match="unknown search space .*no attribute 'nope'"):
        reg.get("space", "nasplug.nn.space:nope")


decision_indices = st.data()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_genotype_json_round_trip_over_random_choices(space, data):
    choices = {d.name: data.draw(st.integers(0, len(d.choices) - 1)) for d in space.decisions}
    genotype = space.genotype_from_choices(choices)
    encoded = json.loads(json.dumps(genotype.to_json()))
    assert space.choices_from_genotype(space.genotype_from_json(encoded)) == choices
    assert space.genotype_from_json(encoded) == genotype


def test_derive_takes_the_most_probable_choice(space):
    probs = {d.name: [0.1] * len(d.choices) for d in space.decisions}
    probs["op"] = [0.2, 0.5, 0.3]
    probs["width"] = [0.5, 0.5]  # a tie keeps the first
    chosen = space.choices_from_genotype(space.derive(probs))
    assert chosen["op"] == 1 and chosen["width"] == 0


def nasplug_types(module):
    return [type(m).__module__ + "." + type(m).__name__ for m in module.modules()
            if type(m).__module__.startswith("nasplug") and not type(m).__module__.startswith("nasplug.testing")
            and type(m).__module__ != "nasplug.nn.plain"]


@pytest.mark.parametrize("seed", range(4))
def test_child_has_no_choice_left_and_equals_the_supernet_on_its_single_path(space, seed):
    torch.manual_seed(seed)
    supernet = space.build_supernet((1, 8, 8), 10)
    supernet.train()
    x = torch.randn(6, 1, 8, 8)
    for _ in range(2):  # move the BN statistics away from their initial values
        supernet(x, space.selections(space.sample(torch.Generator().manual_seed(seed + 10))))
    choices = space.sample(torch.Generator().manual_seed(seed))
    child = space.build_child(space.genotype_from_choices(choices), (1, 8, 8), 10, supernet=supernet)
    assert type(child) is TinyChoiceNet and nasplug_types(child) == []
    supernet.eval(), child.eval()
    with torch.no_grad():
        assert torch.allclose(child(x), supernet(x, space.selections(choices)), atol=1e-5)
    fresh = space.build_child(space.genotype_from_choices(choices), (1, 8, 8), 10)
    assert fresh(x).shape == (6, 10) and nasplug_types(fresh) == []


def test_child_convs_have_the_chosen_width_and_kernel(space):
    choices = {d.name: 0 for d in space.decisions}
    choices.update({"width": 1, "op": 0, "blocks": 2, "blocks/1/conv/kernel_size": 1})
    child = space.build_child(space.genotype_from_choices(choices), (1, 8, 8), 10)
    assert child.stem.out_channels == 8 and isinstance(child.stem, nn.Conv2d)
    assert child.op.in_channels == 8 and child.classifier.in_features == 8
    assert len(child.blocks) == 2 and child.blocks[1].conv.kernel_size == (3, 3)
    assert child.blocks[0].conv.kernel_size == (1, 1)


def test_pipeline_takes_a_built_space_and_records_it_by_name(tmp_path, space):
    result = Pipeline(space=space, strategy="gdas", data="digits", epochs=1, steps_per_epoch=1, batch_size=16,
                      threads=1, run_dir=tmp_path / "run").search()
    record = json.loads((tmp_path / "run" / "genotype.json").read_text())
    assert record["space"] == "model" and record["space_options"]["model"] == TINY
    assert space.genotype_from_json(record["genotype"]) == result.genotype


# -- bad input -------------------------------------------------------------------------------------------

class Mismatched(nn.Module):
    input_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.op = LayerChoice({"same": nn.Conv2d(3, 4, 3, padding=1), "shrinks": nn.Conv2d(3, 4, 3)}, label="stem_op")

    def forward(self, x):
        return self.op(x).mean((2, 3))


def test_candidates_whose_output_shapes_differ_are_refused_naming_the_decision_and_shapes():
    with pytest.raises(ConfigError) as info:
        model_space(Mismatched)
    message = str(info.value)
    assert "'stem_op'" in message and "same: [2, 4, 8, 8]" in message and "shrinks: [2, 4, 6, 6]" in message
    assert "\n" not in message


def test_repeat_depths_that_change_the_shape_are_refused():
    model = nn.Sequential(Repeat(lambda: nn.Conv2d(2, 2, 3, stride=2, padding=1), depth=(1, 2)))
    with pytest.raises(ConfigError, match=r"decision '0'.*1: \[2, 2, 4, 4\], 2: \[2, 2, 2, 2\]"):
        model_space(model, input_shape=(2, 8, 8))


def test_a_model_without_a_choice_is_refused():
    with pytest.raises(ConfigError, match="has no choice in it; add a LayerChoice"):
        model_space(nn.Sequential(nn.Conv2d(3, 4, 3)), input_shape=(3, 8, 8))


def test_one_label_on_different_choices_is_refused_and_on_equal_ones_shared():
    clash = nn.Sequential(LayerChoice([nn.Identity(), nn.ReLU()], label="act"),
                          LayerChoice({"a": nn.Identity(), "b": nn.Tanh()}, label="act"))
    with pytest.raises(ConfigError, match=r"two decisions are named 'act' with different choices: .*\['0', '1'\].*"
                                          r"\['a', 'b'\]"):
        model_space(clash, input_shape=(4,))
    shared = nn.Sequential(LayerChoice([nn.Identity(), nn.ReLU()], label="act"),
                           LayerChoice([nn.Identity(), nn.Tanh()], label="act"))
    assert model_space(shared, input_shape=(4,)).decision_names() == ["act"]


def test_a_width_larger_than_the_modules_maximum_is_refused():
    wide = nn.Sequential(MutableConv2d(3, ValueChoice([8, 16]), 3), MutableBatchNorm2d(ValueChoice([4, 8])))
    with pytest.raises(ConfigError, match="MutableBatchNorm2d: its input has 16 channels, more than its maximum 8"):
        model_space(wide, input_shape=(3, 4, 4))


def test_a_width_outside_the_choices_in_a_genotype_is_refused(space):
    data = space.genotype_from_choices({d.name: 0 for d in space.decisions}).to_json()
    data["choices"]["width"] = "64"
    with pytest.raises(GenotypeError, match="choice '64' of decision 'width' is not allowed; its choices are 4, 8"):
        space.genotype_from_json(data)


def test_a_genotype_from_another_model_is_refused(space):
    other = model_space(nn.Sequential(LayerChoice([nn.Identity(), nn.ReLU()])), input_shape=(4,))
    foreign = other.genotype_from_choices({"0": 1})
    with pytest.raises(GenotypeError, match="the genotype is of model 'Sequential'; this space searches model "
                                            "'nasplug.testing.model:TinyChoiceNet'"):
        space.build_child(foreign, (1, 8, 8), 10)
    with pytest.raises(GenotypeError, match="choices name decisions \\['0'\\]"):
        space.genotype_from_choices({**{d.name: 0 for d in space.decisions}, "0": 1})


def test_bad_module_arguments_are_one_line_errors():
    with pytest.raises(ConfigError, match="InputChoice reduction 'max' is not allowed; choose one of sum, mean, concat"):
        InputChoice(2, 1, "max")
    with pytest.raises(ConfigError, match="kernel sizes \\[3, 4\\] must be all odd or all even"):
        MutableConv2d(3, 4, ValueChoice([3, 4]))
    with pytest.raises(ConfigError, match="must be a non-empty string without '.'"):
        ValueChoice([1, 2], label="a.b")
    with pytest.raises(ConfigError, match="needs an example input shape"):
        model_space(nn.Sequential(LayerChoice([nn.Identity()])))


def test_a_space_that_cannot_be_rebuilt_by_name_is_refused_by_the_pipeline(tmp_path):
    local = model_space(lambda: TinyChoiceNet(), input_shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="cannot be rebuilt by name"):
        Pipeline(space=local, strategy="gdas", data="digits", run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_choice_run_outside_a_search_says_how_to_run_it(space):
    with pytest.raises(NasplugError, match="ran before its space named its decisions"):
        TinyChoiceNet()(torch.randn(1, 1, 8, 8))
    bound = space.build_supernet((1, 8, 8), 10).model
    with pytest.raises(NasplugError, match="ran outside a search"):
        bound(torch.randn(1, 1, 8, 8))


def test_a_plugins_space_hook_can_return_a_model_space(tmp_path):
    from nasplug import hookimpl
    from nasplug.plugins import load_plugins
    from nasplug.registry import Registry

    class TinyNetPlugin:
        @hookimpl
        def nasplug_search_spaces(self):
            return {"tiny-net": lambda: model_space(TINY)}

    reg = Registry(load_plugins([TinyNetPlugin()]))
    kit.check_space("tiny-net", reg)  # rebuilt for `nasplug train` through the name it records: "model"
    result = Pipeline(space="tiny-net", strategy="random", data="digits", epochs=1, steps_per_epoch=1,
                      batch_size=16, threads=1, registry=reg, run_dir=tmp_path / "run",
                      optimizer_options={"num_candidates": 2, "screen_batches": 1, "top_k": 1}).search()
    assert result.genotype_record()["space"] == "model"


def test_an_import_path_that_is_not_a_space_factory_is_refused_saying_what_to_do():
    reg = registry.default_registry()
    with pytest.raises(ConfigError, match="built a TinyChoiceNet, not a SearchSpace; for a model class use space "
                                          "'model' with the option model='nasplug.testing.model:TinyChoiceNet'"):
        reg.get("space", TINY)
    with pytest.raises(NasplugError, match="unknown search space 'nosuchpkg:make'.*cannot import module 'nosuchpkg'"):
        reg.get("space", "nosuchpkg:make")
