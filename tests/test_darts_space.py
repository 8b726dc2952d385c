"""The DARTS cell space: DARTS notation, the top-2 rule, valid sampling, children and supernet."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug.errors import ConfigError, GenotypeError
from nasplug.spaces.darts import DartsGenotype, DartsSpace
from nasplug.spaces.ops import DARTS_OPS

# DARTS (2nd order) normal and reduction cells as published, in DARTS's flat notation
DARTS_V2 = {
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
               ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
}


def small(**kw):
    return DartsSpace(**{"C": 4, "layers": 3, **kw})


def test_space_has_14_edges_per_cell_type_and_8_ops():
    space = DartsSpace()
    assert len(space.decisions) == 28
    assert all(d.choices == DARTS_OPS for d in space.decisions)
    assert len(DartsSpace(alpha_scope="cell", layers=5).decisions) == 14 * 5


def test_published_genotype_parses_and_round_trips():
    space = small()
    g = space.genotype_from_json(DARTS_V2)
    assert len(g.normal) == 4 and all(len(node) == 2 for node in g.normal)
    assert space.genotype_from_choices(space.choices_from_genotype(g)) == g
    assert space.genotype_from_json(g.to_json()) == g
    assert "Genotype(normal=[('sep_conv_3x3', 0)" in str(g)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_sampled_architectures_are_valid_and_round_trip(seed):
    space = small()
    choices = space.sample(torch.Generator().manual_seed(seed))
    g = space.genotype_from_choices(choices)
    assert all(len(node) == 2 and "none" not in [op for op, _ in node] for node in g.normal + g.reduce)
    assert space.choices_from_genotype(g) == choices
    assert space.genotype_from_json(g.to_json()) == g


def test_derive_keeps_top2_edges_by_strongest_non_none_op():
    space = small()
    probs = {d.name: [1 / 8] * 8 for d in space.decisions}
    probs["normal:0->4"] = [0.9, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0]  # none is ignored: score 0.1
    probs["normal:2->4"] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.7, 0.3, 0.0]  # sep_conv_5x5 strongest
    probs["normal:3->4"] = [0.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.0, 0.0]  # skip_connect
    g = space.derive(probs)
    assert g.normal[2] == (("sep_conv_5x5", 2), ("skip_connect", 3))


def test_invalid_choices_and_genotypes_are_errors():
    space = small()
    choices = space.sample(torch.Generator().manual_seed(0))
    choices["normal:0->2"] = choices["normal:1->2"] = 0  # node 2 left with no input
    with pytest.raises(GenotypeError, match="node 2 of the normal cell has 0 non-none inputs"):
        space.genotype_from_choices(choices)
    with pytest.raises(GenotypeError, match="unknown op 'conv_9x9'"):
        space.genotype_from_json({"normal": [["conv_9x9", 0], ["skip_connect", 1]] * 4, "reduce": None})
    with pytest.raises(ConfigError, match="alpha_scope.*'layer'"):
        DartsSpace(alpha_scope="layer")
    with pytest.raises(ConfigError, match="unknown ops \\['conv'\\]"):
        DartsSpace(ops=("conv",))


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 1000), st.sampled_from([(1, 8, 8), (3, 32, 32)]), st.booleans())
def test_child_runs_forward_and_backward(seed, shape, auxiliary):
    space = small()
    g = space.genotype_from_choices(space.sample(torch.Generator().manual_seed(seed)))
    net = space.build_child(g, shape, 10, auxiliary=auxiliary)
    net.drop_path_prob = 0.2
    net.train()
    out = net(torch.randn(3, *shape))
    assert out.shape == (3, 10)
    loss = out.sum() + (net.aux_logits.sum() if auxiliary else 0)
    loss.backward()
    assert (net.auxiliary_head is not None) == auxiliary


def test_supernet_single_path_runs_only_sampled_ops():
    space = small()
    net = space.build_supernet((1, 8, 8), 10)
    ran = set()
    for ci, cell in enumerate(net.cells):
        for edge, ops in cell.edges.items():
            for k, op in enumerate(ops):
                op.register_forward_hook(lambda m, i, o, key=(ci, edge, k): ran.add(key))
    choices = space.sample(torch.Generator().manual_seed(1))
    net(torch.randn(2, 1, 8, 8), space.selections(choices)).sum().backward()
    expected = set()
    for ci, cell in enumerate(net.cells):
        prefix = "reduce" if cell.reduction else "normal"
        for edge in cell.edges:
            expected.add((ci, edge, choices[f"{prefix}:{edge}"]))
    assert ran == expected


def test_child_defaults_follow_darts_evaluation_setting():
    assert DartsSpace().child_defaults() == {"C": 36, "layers": 20}


def test_fixed_reduction_needs_a_space_that_provides_it():
    space = small(search_reduction=False)
    assert all(d.name.startswith("normal:") for d in space.decisions)
    with pytest.raises(ConfigError, match="no fixed reduction cell"):
        space.build_supernet((1, 8, 8), 10)


def test_flat_genotype_with_odd_pairs_is_rejected():
    with pytest.raises(GenotypeError, match="2 \\(op, input\\) pairs per node"):
        DartsGenotype(normal=[("skip_connect", 0)] * 3)
