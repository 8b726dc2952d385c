"""The edge-fixed spaces S1/S2 and the search-stage regularisers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasplug import registry
from nasplug.components import ArchParameters
from nasplug.errors import ConfigError
from nasplug_amended.search_stage import cutout
from nasplug_amended.spaces import S1_OPS, S2_OPS


def test_s1_has_the_papers_edges_ops_and_count():
    space = registry.get("space", "darts-s1")
    assert space.candidate_inputs(2) == (0, 1)
    assert [space.candidate_inputs(i) for i in (3, 4, 5)] == [(0, 2), (0, 3), (0, 4)]
    assert "none" not in space.ops and set(space.ops) == set(S1_OPS)
    names = [d.name for d in space.decisions]
    assert len(names) == 16 and sum(n.startswith("normal:") for n in names) == 8
    assert len(space.ops) ** len(names) == pytest.approx(3.3e13, rel=0.01)  # Sec. 4.1.3's count


def test_s2_has_per_cell_alpha_and_two_ops():
    space = registry.get("space", "darts-s2")
    assert space.layers == 20 and space.alpha_scope == "cell" and space.ops == S2_OPS
    assert len(space.decisions) == 20 * 8
    assert len(space.ops) ** len(space.decisions) == pytest.approx(1.5e48, rel=0.03)
    assert space.child_defaults() == {"C": 36}


def test_edge_removal_is_refused():
    with pytest.raises(ConfigError, match="keep_edges"):
        registry.get("space", "darts-s1", keep_edges=2)
    with pytest.raises(ConfigError, match="drop_path"):
        registry.get("space", "darts-s1", drop_path=1.5)
    with pytest.raises(ConfigError, match="cutout"):
        registry.get("space", "darts-s2", cutout=-1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(["darts-s1", "darts-s2"]))
def test_derivation_keeps_every_edge_and_round_trips(seed, name):
    space = registry.get("space", name, layers=4)
    g = torch.Generator().manual_seed(seed)
    probs = {d.name: torch.rand(len(d.choices), generator=g).softmax(-1) for d in space.decisions}
    genotype = space.derive(probs)
    choices = space.choices_from_genotype(genotype)
    assert choices == {k: int(torch.argmax(p)) for k, p in probs.items()}  # argmax on every fixed edge
    assert space.genotype_from_choices(choices) == genotype
    assert space.genotype_from_json(genotype.to_json()) == genotype
    sampled = space.sample(g)
    assert space.choices_from_genotype(space.genotype_from_choices(sampled)) == sampled


@pytest.mark.parametrize("name", ["darts-s1", "darts-s2"])
def test_child_and_supernet_forward(name):
    space = registry.get("space", name, C=4, layers=3, steps=2, auxiliary_weight=0.4, drop_path=0.2, cutout=4)
    net = space.build_supernet((1, 8, 8), 10)
    sel = registry.get("sampler", "mixture").sample(ArchParameters(space.decisions), None)
    x = torch.randn(4, 1, 8, 8)
    net.train()
    assert net(x, sel).shape == (4, 10) and net.aux_logits.shape == (4, 10)
    genotype = space.sample(torch.Generator().manual_seed(0))
    child = space.build_child(space.genotype_from_choices(genotype), (1, 8, 8), 10)
    assert child(x).shape == (4, 10)


def test_drop_path_drops_whole_branches_only_when_switched_on():
    space = registry.get("space", "darts-s1", C=4, layers=1, steps=2, drop_path=0.5)
    net = space.build_supernet((1, 8, 8), 10).train()
    sel = registry.get("sampler", "mixture").sample(ArchParameters(space.decisions), None)
    x = torch.randn(8, 1, 8, 8)
    torch.manual_seed(0)
    a = net(x, sel)
    b = net(x, sel)
    assert torch.equal(a, b)  # off by default (architecture steps, evaluation)
    net.drop_path_prob = 0.5
    torch.manual_seed(0)
    c = net(x, sel)
    assert not torch.allclose(a, c)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 8), h=st.integers(4, 12), seed=st.integers(0, 1000))
def test_cutout_zeros_one_clipped_square(length, h, seed):
    x = torch.ones(5, 2, h, h)
    out = cutout(x, length, torch.Generator().manual_seed(seed))
    for img in out:
        assert torch.equal(img[0], img[1])  # the same square on every channel
        zero = (img[0] == 0).nonzero()
        assert 0 < len(zero) <= length * length
        rows, cols = zero[:, 0], zero[:, 1]
        assert len(zero) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle
        assert rows.max() - rows.min() + 1 <= length
