"""GroupedConv2d: first order untouched, second order exact, and only the products a pass needs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nasplug.spaces import grouped_conv
from nasplug.spaces.grouped_conv import GroupedConv2d, second_order_graph

GEOMETRIES = [  # channels, groups, kernel, stride, padding, dilation
    (4, 4, 3, 1, 1, 1),
    (4, 2, 3, 2, 1, 1),
    (6, 6, 5, 1, 4, 2),
    (4, 4, 3, 2, 2, 2),
]


def make(C, groups, kernel, stride, padding, dilation, seed=0):
    torch.manual_seed(seed)
    conv = GroupedConv2d(C, C, kernel, stride, padding, dilation=dilation, groups=groups, bias=False).double()
    x = torch.randn(2, C, 7, 7, dtype=torch.double, requires_grad=True)
    return conv, x


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_first_and_second_derivatives_match_finite_differences(geometry):
    conv, x = make(*geometry)

    def f(x, w):
        with second_order_graph():
            return F.relu(conv._conv_forward(x, w, None)) ** 2

    assert torch.autograd.gradcheck(f, (x, conv.weight))
    assert torch.autograd.gradgradcheck(f, (x, conv.weight))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_double_backward_equals_pytorchs(geometry):
    """H v and the mixed product of a loss through the conv, with and without the recording."""
    conv, x = make(*geometry)
    v = torch.randn_like(conv.weight)

    def products(record: bool):
        with second_order_graph() if record else torch.enable_grad():
            loss = (F.relu(conv(x)) ** 3).sum()
        g_w, = torch.autograd.grad(loss, conv.weight, create_graph=True)
        return torch.autograd.grad(g_w, (conv.weight, x), grad_outputs=v)

    for ours, theirs in zip(products(True), products(False)):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_outside_the_block_it_is_a_plain_conv():
    conv, x = make(4, 4, 3, 1, 1, 1)
    plain = torch.nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False).double()
    plain.load_state_dict(conv.state_dict())
    y = conv(x)
    assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
    assert torch.equal(y, plain(x))
    with second_order_graph():
        assert type(conv(x).grad_fn).__name__ != "ConvolutionBackward0"
    assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"  # the block resets on exit


def test_first_order_backward_of_a_recorded_graph_is_bit_identical():
    conv, x = make(4, 2, 3, 2, 1, 1)
    with second_order_graph():
        ours = torch.autograd.grad(conv(x).square().sum(), (x, conv.weight))
    theirs = torch.autograd.grad(F.conv2d(x, conv.weight, None, 2, 1, 1, 2).square().sum(), (x, conv.weight))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_a_product_with_respect_to_activations_only_skips_weight_gradients(monkeypatch):
    """The mixed product (d/d alpha only) must not pay for weight-gradient kernels it discards."""
    first, x = make(4, 4, 3, 1, 1, 1)
    second, _ = make(4, 2, 3, 1, 1, 1, seed=1)
    weights = (first.weight, second.weight)
    scale = torch.ones(1, 4, 1, 1, dtype=torch.double, requires_grad=True)  # stands in for alpha
    ones = [torch.ones_like(w) for w in weights]

    def weight_gradient(record: bool):
        with second_order_graph() if record else torch.enable_grad():
            loss = (F.relu(second(F.relu(first(x * scale)))) ** 3).sum()
        return torch.autograd.grad(loss, weights, create_graph=True)

    masks = []
    native = grouped_conv._input_and_weight_grads

    def recording(grad_output, x, w, geometry, mask):
        masks.append(tuple(mask))
        return native(grad_output, x, w, geometry, mask)

    monkeypatch.setattr(grouped_conv, "_input_and_weight_grads", recording)
    g_w = weight_gradient(record=True)
    assert masks == [(True, True), (False, True)]  # the second conv passes its input gradient on, the first not
    masks.clear()
    ours, = torch.autograd.grad(g_w, scale, grad_outputs=ones)
    assert masks and all(not wants_weight for _, wants_weight in masks)
    reference, = torch.autograd.grad(weight_gradient(record=False), scale, grad_outputs=ones)
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
