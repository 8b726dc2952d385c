"""The NAS-Bench-201 space: strings, round trips, supernet single-path execution, children."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug.errors import GenotypeError
from nasplug.spaces.nb201 import EDGES, NB201Genotype, NB201Space
from nasplug.spaces.ops import NB201_OPS

KNOWN = [
    # the best CIFAR-10 cell of the benchmark and two others from its table
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
]

genotypes = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6).map(NB201Genotype)


@pytest.mark.parametrize("text", KNOWN)
def test_known_strings_parse_and_print_back(text):
    genotype = NB201Genotype.from_string(text)
    assert genotype.to_string() == text
    assert len(genotype.ops) == 6


def test_string_parsing_assigns_edges_in_benchmark_order():
    g = NB201Genotype.from_string(KNOWN[1])
    space = NB201Space(C=4, N=1)
    choices = space.choices_from_genotype(g)
    assert NB201_OPS[choices["0->1"]] == "avg_pool_3x3"
    assert NB201_OPS[choices["1->2"]] == "skip_connect"
    assert NB201_OPS[choices["0->3"]] == "nor_conv_1x1"
    assert NB201_OPS[choices["2->3"]] == "skip_connect"


@pytest.mark.parametrize("bad, fragment", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "3 '+'-separated nodes"),
    ("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv_7x7'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'op~0'"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2"),
])
def test_bad_strings_say_what_is_wrong(bad, fragment):
    with pytest.raises(GenotypeError, match=fragment.replace("|", r"\|").replace("+", r"\+")):
        NB201Genotype.from_string(bad)


@settings(max_examples=60, deadline=None)
@given(genotypes)
def test_round_trips(genotype):
    space = NB201Space(C=4, N=1)
    assert NB201Genotype.from_string(genotype.to_string()) == genotype
    assert space.genotype_from_json(genotype.to_json()) == genotype
    assert space.genotype_from_choices(space.choices_from_genotype(genotype)) == genotype


@settings(max_examples=10, deadline=None)
@given(genotypes, st.sampled_from([(1, 8, 8), (3, 32, 32)]))
def test_child_runs_forward_and_backward(genotype, shape):
    net = NB201Space(C=4, N=1).build_child(genotype, shape, 10)
    x = torch.randn(2, *shape)
    out = net(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_supernet_runs_only_the_sampled_op_on_each_edge():
    space = NB201Space(C=4, N=2)
    net = space.build_supernet((1, 8, 8), 10)
    calls = {}

    def counter(key):
        def hook(module, inputs, output):
            calls[key] = calls.get(key, 0) + 1
        return hook

    for cell_index, layer in enumerate(net.layers):
        if not hasattr(layer, "edges"):
            continue
        for edge, ops in layer.edges.items():
            for k, op in enumerate(ops):
                op.register_forward_hook(counter((cell_index, edge, k)))
    choices = space.sample(torch.Generator().manual_seed(3))
    out = net(torch.randn(2, 1, 8, 8), space.selections(choices))
    out.sum().backward()
    cells = [i for i, layer in enumerate(net.layers) if hasattr(layer, "edges")]
    expected = {(i, e, choices[e]) for i in cells for e in choices}
    assert set(calls) == expected
    assert all(v == 1 for v in calls.values())


def test_derive_takes_argmax_including_none():
    space = NB201Space(C=4, N=1)
    probs = {d.name: [0.1] * 5 for d in space.decisions}
    probs["0->1"] = [0.6, 0.1, 0.1, 0.1, 0.1]
    probs["2->3"] = [0.1, 0.1, 0.1, 0.6, 0.1]
    g = space.derive(probs)
    assert g.ops[0] == "none"
    assert g.ops[EDGES.index((2, 3))] == "nor_conv_3x3"


def _cell_batch_norms(net):
    return [m for layer in net.layers if not hasattr(layer, "downsample")
            for m in layer.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_supernet_cells_have_no_affine_bn_and_no_running_stats_by_default():
    """The authors' NB201 search cell: affine=False, track_running_stats off (GDAS.py, BN=0)."""
    net = NB201Space(C=4, N=1).build_supernet((3, 8, 8), 10)
    norms = _cell_batch_norms(net)
    assert norms and all(not bn.affine and not bn.track_running_stats for bn in norms)
    # a cell normalises with batch statistics in eval mode too: no running averages mixing all paths
    space = NB201Space(C=4, N=1)
    cell = net.layers[0]
    x = torch.randn(4, 4, 8, 8) * 3 + 1
    sel = space.selections({d.name: 3 for d in space.decisions})  # nor_conv_3x3 everywhere
    cell.train()
    train_out = cell(x, sel)
    cell.eval()
    assert torch.allclose(cell(x, sel), train_out, atol=1e-5)


def test_supernet_bn_options_and_child_keep_full_bn():
    space = NB201Space(C=4, N=1, affine=True, track_running_stats=True)
    norms = _cell_batch_norms(space.build_supernet((3, 8, 8), 10))
    assert all(bn.affine and bn.track_running_stats for bn in norms)
    child = NB201Space(C=4, N=1).build_child(NB201Genotype.from_string(KNOWN[0]), (3, 8, 8), 10)
    child_norms = [m for m in child.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(bn.affine and bn.track_running_stats for bn in child_norms)


def test_bn_options_reject_non_bools():
    from nasplug.errors import ConfigError

    with pytest.raises((TypeError, ConfigError), match="affine"):
        NB201Space(C=4, N=1, affine="yes")
