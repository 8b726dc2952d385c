"""Selections, architecture parameters and the analytic cost model."""

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from nasplug.components import ArchParameters, Selection, apply_selection
from nasplug.flops_latency import FlopsLatencyModel
from nasplug.metrics import count_macs
from nasplug.spaces.nb201 import NB201Space


class Scale(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x):
        self.calls += 1
        return x * self.k


def test_single_path_runs_one_op_and_scales_by_its_weight():
    ops = [Scale(1.0), Scale(2.0), Scale(3.0)]
    x = torch.ones(2)
    out = apply_selection(ops, x, Selection(torch.tensor([0.0, 0.5, 0.0]), index=1))
    assert torch.equal(out, torch.full((2,), 1.0))
    assert [op.calls for op in ops] == [0, 1, 0]


def test_carry_unselected_adds_zero_value_but_routes_gradient():
    logits = torch.zeros(3, requires_grad=True)
    probs = torch.softmax(logits, -1)
    hard = torch.nn.functional.one_hot(torch.tensor(1), 3).float() - probs.detach() + probs
    ops = [Scale(1.0), Scale(2.0), Scale(3.0)]
    x = torch.ones(2)
    plain = apply_selection(ops, x, Selection(hard, 1))
    carried = apply_selection(ops, x, Selection(hard, 1, carry_unselected=True))
    assert torch.allclose(plain, carried)
    g_plain = torch.autograd.grad(plain.sum(), logits, retain_graph=True)[0]
    g_carried = torch.autograd.grad(carried.sum(), logits)[0]
    assert not torch.allclose(g_plain, g_carried)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_mixture_is_the_weighted_sum_and_skips_zero_weights(weights):
    ops = [Scale(1.0), Scale(2.0), Scale(3.0)]
    w = torch.tensor(weights)
    if w.sum() == 0:
        with pytest.raises(ValueError):
            apply_selection(ops, torch.ones(1), Selection(w))
        return
    out = apply_selection(ops, torch.ones(1), Selection(w))
    assert torch.allclose(out, (w * torch.tensor([1.0, 2.0, 3.0])).sum().view(1), atol=1e-6)
    assert [op.calls for op in ops] == [int(float(v) != 0) for v in w]


def test_arch_parameters_init_and_probabilities():
    space = NB201Space(C=4, N=1)
    zero = ArchParameters(space.decisions, init_std=0.0)
    assert all(torch.allclose(p, torch.full((5,), 0.2)) for p in zero.probabilities().values())
    a = ArchParameters(space.decisions, 1e-3, torch.Generator().manual_seed(0))
    b = ArchParameters(space.decisions, 1e-3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a[n], b[n]) for n in a.names())
    assert 0 < max(float(p.abs().max()) for p in a.probabilities().values()) > 0 and max(float(p.detach().abs().max()) for p in a.logits.values()) < 0.01


def test_flops_model_is_exactly_additive_on_nb201():
    space = NB201Space(C=4, N=1)
    model = FlopsLatencyModel()
    model.prepare(space, (1, 8, 8), 10)
    base, costs = model.decision_costs()
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        choices = space.sample(gen)
        additive = base + sum(float(costs[k][v]) for k, v in choices.items())
        assert model.predict(choices) == pytest.approx(additive, rel=1e-9)
    # a 3x3 conv edge costs 9x a 1x1 conv edge; pooling and skip cost nothing
    ops = space.decisions[0].choices
    c = costs["0->1"]
    assert float(c[ops.index("nor_conv_3x3")]) == pytest.approx(9 * float(c[ops.index("nor_conv_1x1")]))
    assert float(c[ops.index("avg_pool_3x3")]) == 0.0


def test_expected_cost_is_differentiable_through_weights():
    space = NB201Space(C=4, N=1)
    model = FlopsLatencyModel()
    model.prepare(space, (1, 8, 8), 10)
    arch = ArchParameters(space.decisions, 0.0)
    selections = {n: Selection(torch.softmax(arch[n], -1)) for n in arch.names()}
    cost = model.expected(selections)
    cost.backward()
    assert arch["0->1"].grad is not None and arch["0->1"].grad.abs().sum() > 0


def test_count_macs_of_a_conv_and_linear():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    assert count_macs(net, torch.zeros(5, 3, 4, 4)) == 8 * 16 * 27 + 128 * 10
