import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from nasplug import registry
from nasplug.errors import ConfigError, GenotypeError

SPACES = ["proxylessnas", "proxylessnas-enlarged", "mobilenetv3-like"]
TINY = {"width": 0.25, "layers": None}


def _space(name, **kw):
    opts = {"width": 0.25}
    opts.update(kw)
    return registry.get("space", name, **opts)


@pytest.mark.parametrize("name", SPACES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_genotype_round_trips(name, seed):
    space = _space(name)
    choices = space.sample(torch.Generator().manual_seed(seed))
    genotype = space.genotype_from_choices(choices)
    assert space.choices_from_genotype(genotype) == choices
    assert space.choices_from_genotype(space.genotype_from_json(genotype.to_json())) == choices
    assert space.choices_from_genotype(space.genotype_from_json(str(genotype))) == choices


def test_table_2_choice_counts():
    p = _space("proxylessnas")
    names = {d.name: d.choices for d in p.decisions}
    assert names["L01:kernel"] == ("k3", "k5", "k7") and names["L01:expansion"] == ("e3", "e6")
    assert not any(n.endswith(":filters") or n.endswith(":se") for n in names)
    assert len(p.layer_plans()) == 21
    e = _space("proxylessnas-enlarged")
    assert len([d for d in e.decisions if d.name.endswith(":filters")]) == 7
    assert e.block_filter_counts(1) == [8, 8, 8, 8, 16, 16, 16]  # 32 x 0.25 x {1/2..2}, multiples of 8
    assert _space("proxylessnas-enlarged", width=1.0).block_filter_counts(1) == [16, 24, 24, 32, 40, 48, 64]
    v3 = _space("mobilenetv3-like")
    names = {d.name: d.choices for d in v3.decisions}
    assert names["L01:expansion"] == tuple(f"e{i}" for i in range(1, 7)) and names["L01:se"] == ("none", "se")


def test_skipped_layer_decisions_are_inactive():
    space = _space("proxylessnas")
    choices = {d.name: 0 for d in space.decisions}
    choices["L02:skip"] = 1
    active = space.active_decisions(choices)
    assert "L02:kernel" not in active and "L02:expansion" not in active and "L02:skip" in active
    assert "L01:kernel" in active


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_supernet_and_child_run(name, shape):
    space = _space(name, layers=(1, 2, 1, 1, 1) if name == "mobilenetv3-like" else (1, 2, 1, 1, 1, 1))
    choices = space.sample(torch.Generator().manual_seed(0))
    x = torch.randn(2, *shape)
    assert space.build_supernet(shape, 10)(x, space.selections(choices)).shape == (2, 10)
    assert space.build_child(space.genotype_from_choices(choices), shape, 10)(x).shape == (2, 10)


def _copy_sliced(child_module, super_module):
    with torch.no_grad():
        for (cn, cp), (sn, sp) in zip(child_module.state_dict().items(), super_module.state_dict().items()):
            assert cn.split(".")[-1] == sn.split(".")[-1]
            cp.copy_(sp[tuple(slice(0, n) for n in cp.shape)] if cp.dim() else sp)


@pytest.mark.parametrize("name,layers,seed", [("proxylessnas-enlarged", (1, 2, 1, 1, 2, 1), seed) for seed in (0, 1, 2)]
                         + [("mobilenetv3-like", (2, 2, 1, 1, 2), seed) for seed in (0, 1, 2, 3)])
def test_masked_supernet_equals_its_child_with_sliced_weights(name, layers, seed):
    """Channel masking is exact: the supernet on alpha computes the child of alpha (batch-stat BN), also with
    expansion 1 (no expansion conv) and squeeze-excite (the child's narrower squeeze)."""
    torch.manual_seed(seed)
    space = _space(name, width=0.5, layers=layers)
    shape = (3, 16, 16)
    net = space.build_supernet(shape, 10)
    for m in net.modules():  # non-trivial BN affine parameters
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    choices = space.sample(torch.Generator().manual_seed(seed))
    child = space.build_child(space.genotype_from_choices(choices), shape, 10)
    layers = iter(child.layers)
    _copy_sliced(next(layers), net.stem)
    first = next(layers)
    _copy_sliced(first.depthwise, net.first.depthwise[0])
    _copy_sliced(first.project, net.first.project)
    for plan, super_layer in zip(net.plans, net.layers):
        if plan.skip and choices[plan.skip] == 1:
            continue
        child_layer = next(layers)
        if child_layer.expand is not None:
            _copy_sliced(child_layer.expand, super_layer.expand)
        _copy_sliced(child_layer.depthwise, super_layer.depthwise[choices[plan.kernel]])
        if child_layer.se is not None:
            _copy_sliced(child_layer.se, super_layer.se)
        _copy_sliced(child_layer.project, super_layer.project)
    _copy_sliced(next(layers), net.head)
    net.train()
    child.train()
    x = torch.randn(4, *shape)
    assert torch.allclose(net(x, space.selections(choices)), child(x), atol=1e-4)


def test_bad_options_and_genotypes():
    with pytest.raises(ConfigError):
        registry.get("space", "proxylessnas", width=0)
    with pytest.raises(ConfigError):
        registry.get("space", "proxylessnas", layers=(1, 2))
    with pytest.raises(ConfigError):
        registry.get("space", "proxylessnas", stem_stride=3)
    space = _space("proxylessnas")
    with pytest.raises(GenotypeError):
        space.choices_from_genotype({"L01:kernel": "k9"})


def test_tiny_inputs_keep_feature_maps_at_least_min_resolution():
    space = _space("proxylessnas")
    configs = space.layer_configs(space.sample(torch.Generator().manual_seed(0)), (1, 8, 8))
    assert min(c["resolution"] for c in configs) == 2  # 8 -> 4 -> 2, later stride-2 layers keep stride 1
    big = space.layer_configs(space.sample(torch.Generator().manual_seed(0)), (3, 224, 224))
    assert [c["stride"] for c in big if c["kind"] == "layer"].count(2) == 4 and big[-1]["resolution"] == 7


def test_all_kernel_choices_start_as_the_same_function():
    from nasplug.components import Selection
    from nasplug_tunas.mobile_ops import SharedInvertedBottleneck, channel_mask
    layer = SharedInvertedBottleneck(8, 8, 1, (3, 5, 7), (3, 6), False, "relu", True)
    x = torch.randn(2, 8, 6, 6)
    outs = [layer(x, 8, Selection.one_hot(3, k), Selection.one_hot(2, 1), None, None, channel_mask(8, 8))
            for k in range(3)]
    assert torch.allclose(outs[0], outs[1], atol=1e-5) and torch.allclose(outs[0], outs[2], atol=1e-5)
