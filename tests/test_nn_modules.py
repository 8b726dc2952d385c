"""Searchable modules (nasplug.nn): what each kind of choice computes under single-path and mixture selections."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasplug.components import Selection
from nasplug.nn import (InputChoice, LayerChoice, MutableBatchNorm2d, MutableConv2d, MutableLinear, Repeat,
                        ValueChoice)
from nasplug.nn.context import selecting
from nasplug.nn.space import collect_decisions


class Counting(nn.Module):
    """Multiplies by ``factor`` and counts its calls."""

    def __init__(self, factor):
        super().__init__()
        self.factor, self.calls = factor, 0

    def forward(self, x):
        self.calls += 1
        return x * self.factor


def run(module, x, selections):
    collect_decisions(module)
    with selecting(selections):
        return module(x)


def one_hot(n, i):
    return Selection.one_hot(n, i)


def test_layer_choice_single_path_runs_only_the_chosen_candidate():
    choice = LayerChoice({"a": Counting(2.0), "b": Counting(3.0), "c": Counting(5.0)})
    x = torch.ones(2, 3)
    out = run(choice, x, {"model": one_hot(3, 1)})
    assert torch.equal(out, 3 * x)
    assert [m.calls for m in choice.candidates.values()] == [0, 1, 0]


def test_layer_choice_mixture_is_the_weighted_sum_and_skips_zero_weights():
    choice = LayerChoice([Counting(2.0), Counting(3.0), Counting(5.0)])
    x = torch.randn(4)
    weights = torch.tensor([0.2, 0.0, 0.8])
    out = run(choice, x, {"model": Selection(weights)})
    assert torch.allclose(out, 0.2 * 2 * x + 0.8 * 5 * x)
    assert choice.candidates["1"].calls == 0


def test_gdas_straight_through_weight_carries_gradient_to_the_logits():
    choice = LayerChoice([Counting(2.0), Counting(3.0)])
    logits = torch.zeros(2, requires_grad=True)
    hard = torch.tensor([0.0, 1.0]) - torch.softmax(logits, 0).detach() + torch.softmax(logits, 0)
    run(choice, torch.ones(3), {"model": Selection(hard, 1)}).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_width_masking_equals_a_real_narrower_conv_with_the_sliced_weight():
    torch.manual_seed(0)
    conv = MutableConv2d(3, ValueChoice([4, 8, 12]), 3, bias=True)
    x = torch.randn(2, 3, 6, 6)
    out = run(conv, x, {"model/out_channels": one_hot(3, 1)})
    real = F.conv2d(x, conv.weight[:8].detach(), conv.bias[:8].detach(), padding=1)
    assert out.shape == (2, 12, 6, 6)
    assert torch.allclose(out[:, :8], real, atol=1e-6)
    assert torch.equal(out[:, 8:], torch.zeros(2, 4, 6, 6))  # TuNAS's mask: the unused filters are zero


def test_a_layer_after_a_masked_one_equals_the_real_narrow_pair():
    torch.manual_seed(1)
    width = ValueChoice([2, 5])
    model = nn.Sequential(MutableConv2d(3, width, 3), MutableConv2d(width, 4, 1))
    x = torch.randn(2, 3, 5, 5)
    out = run(model, x, {"0/out_channels": one_hot(2, 0)})
    first, second = model[0], model[1]
    narrow = F.conv2d(F.conv2d(x, first.weight[:2], first.bias[:2], padding=1), second.weight[:, :2], second.bias)
    assert torch.allclose(out, narrow, atol=1e-6)


def test_kernel_crop_equals_a_real_smaller_conv_with_the_centre_of_the_largest_kernel():
    torch.manual_seed(2)
    conv = MutableConv2d(3, 4, ValueChoice([3, 5, 7]), bias=False)
    x = torch.randn(1, 3, 9, 9)
    out = run(conv, x, {"model/kernel_size": one_hot(3, 0)})
    real = F.conv2d(x, conv.weight[:, :, 2:5, 2:5].detach(), padding=1)
    assert torch.allclose(out, real, atol=1e-6)
    # a mixture over kernels is the weighted sum of the cropped convs
    mixed = run(conv, x, {"model/kernel_size": Selection(torch.tensor([0.5, 0.0, 0.5]))})
    full = F.conv2d(x, conv.weight.detach(), padding=3)
    assert torch.allclose(mixed, 0.5 * real + 0.5 * full, atol=1e-5)


def test_width_mixture_is_the_weighted_sum_of_masked_outputs():
    torch.manual_seed(3)
    lin = MutableLinear(6, ValueChoice([2, 4]))
    x = torch.randn(3, 6)
    out = run(lin, x, {"model/out_features": Selection(torch.tensor([0.25, 0.75]))})
    full = F.linear(x, lin.weight, lin.bias).detach()
    two = torch.cat([full[:, :2], torch.zeros(3, 2)], 1)
    assert torch.allclose(out, 0.25 * two + 0.75 * full, atol=1e-6)


def test_depthwise_width_choice_equals_a_real_depthwise_conv():
    torch.manual_seed(4)
    c = ValueChoice([4, 6])
    conv = MutableConv2d(c, c, ValueChoice([3, 5]), groups=c, bias=False)
    x = torch.randn(2, 6, 7, 7)
    out = run(conv, x, {"model/out_channels": one_hot(2, 0), "model/kernel_size": one_hot(2, 1)})
    real = F.conv2d(x[:, :4], conv.weight[:4].detach(), padding=2, groups=4)
    assert torch.allclose(out[:, :4], real, atol=1e-6) and not out[:, 4:].any()


def test_batch_norm_normalises_only_the_live_channels_and_keeps_the_masked_ones_zero():
    bn = MutableBatchNorm2d(ValueChoice([3, 5]))
    with torch.no_grad():
        bn.bias.fill_(0.7)
    x = torch.cat([torch.randn(4, 3, 2, 2), torch.zeros(4, 2, 2, 2)], 1)
    out = run(bn, x, {"model/num_features": one_hot(2, 0)})
    real = nn.BatchNorm2d(3)
    with torch.no_grad():
        real.bias.fill_(0.7)
    assert torch.allclose(out[:, :3], real(x[:, :3]), atol=1e-6)
    assert not out[:, 3:].any()
    assert torch.allclose(bn.running_mean[:3], real.running_mean) and not bn.running_mean[3:].any()


def test_repeat_runs_the_first_depth_blocks_and_mixes_depths():
    torch.manual_seed(5)
    rep = Repeat(lambda i: Counting(float(i + 2)), depth=(0, 3))
    x = torch.ones(2)
    assert torch.equal(run(rep, x, {"model": one_hot(4, 2)}), x * 2 * 3)
    assert [b.calls for b in rep.blocks] == [1, 1, 0]
    mixed = run(rep, x, {"model": Selection(torch.tensor([0.1, 0.2, 0.3, 0.4]))})
    assert torch.allclose(mixed, x * (0.1 + 0.2 * 2 + 0.3 * 6 + 0.4 * 24))
    assert [b.calls for b in rep.blocks] == [2, 2, 1]  # each block ran once for the whole mixture


@pytest.mark.parametrize("reduction,expected", [("sum", lambda a, c: a + c), ("mean", lambda a, c: (a + c) / 2),
                                                ("concat", lambda a, c: torch.cat([a, c], 1))])
def test_input_choice_keeps_the_chosen_tensors_and_reduces_them(reduction, expected):
    choice = InputChoice(3, 2, reduction)
    assert choice.choice.values == ("0+1", "0+2", "1+2")
    a, b, c = (torch.randn(2, 3) for _ in range(3))
    assert torch.allclose(run(choice, [a, b, c], {"model": one_hot(3, 1)}), expected(a, c))


def test_a_value_choice_times_a_constant_follows_the_same_decision():
    ratio = ValueChoice([2, 4], label="ratio")
    model = nn.Sequential(MutableConv2d(3, ratio * 4, 1), MutableConv2d(ratio * 4, 3, 1))
    decisions = collect_decisions(model)
    assert [(d.name, d.choices) for d in decisions] == [("ratio", ("2", "4"))]
    out = run(model, torch.randn(1, 3, 2, 2), {"ratio": one_hot(2, 0)})
    assert out.shape == (1, 3, 2, 2)
