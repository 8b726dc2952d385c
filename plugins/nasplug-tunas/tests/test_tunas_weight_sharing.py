"""Channel masking and operation collapsing (Sec. 4.1)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasplug import registry
from nasplug.components import Selection
from nasplug_tunas.mobile_ops import SharedInvertedBottleneck, channel_mask


@pytest.mark.parametrize("groups", [1, "depthwise"])
def test_masked_big_conv_equals_small_conv_forward_and_backward(groups):
    torch.manual_seed(0)
    c_in_max, c_out_max, n_in, n_out, k = 12, 16, 7, 9, 3
    if groups == "depthwise":
        c_in_max = c_out_max = 16
        n_in = n_out = 9
    g_big = c_in_max if groups == "depthwise" else 1
    g_small = n_in if groups == "depthwise" else 1
    big = nn.Conv2d(c_in_max, c_out_max, k, padding=1, groups=g_big, bias=False)
    small = nn.Conv2d(n_in, n_out, k, padding=1, groups=g_small, bias=False)
    with torch.no_grad():
        small.weight.copy_(big.weight[:n_out, : (1 if groups == "depthwise" else n_in)])
    x = torch.randn(2, c_in_max, 5, 5)
    x_big = (x * channel_mask(n_in, c_in_max)).requires_grad_()
    x_small = x[:, :n_in].clone().requires_grad_()
    out_big = big(x_big) * channel_mask(n_out, c_out_max)
    out_small = small(x_small)
    assert torch.allclose(out_big[:, :n_out], out_small, atol=1e-6)
    assert torch.count_nonzero(out_big[:, n_out:]) == 0
    upstream = torch.randn_like(out_small)
    out_big.backward(F.pad(upstream, (0, 0, 0, 0, 0, c_out_max - n_out)))
    out_small.backward(upstream)
    # the big kernel's gradient is the small kernel's in the kept slice and zero elsewhere
    sl = (slice(0, n_out), slice(0, 1 if groups == "depthwise" else n_in))
    assert torch.allclose(big.weight.grad[sl], small.weight.grad, atol=1e-5)
    rest = big.weight.grad.clone()
    rest[sl] = 0
    assert torch.count_nonzero(rest) == 0
    assert torch.allclose(x_big.grad[:, :n_in], x_small.grad, atol=1e-5)


def _layer():
    return SharedInvertedBottleneck(16, 16, 1, (3, 5, 7), (3, 6), False, "relu", True)


def test_op_collapsing_shares_one_expansion_and_one_projection_per_layer():
    layer = _layer()
    convs_1x1 = [m for m in layer.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(convs_1x1) == 2  # one expand, one project, whatever the kernel/expansion choices
    e = 96  # 6 x 16, the largest expansion
    expected = (16 * e + 2 * e) + sum(e * k * k + 2 * e for k in (3, 5, 7)) + (e * 16 + 2 * 16)
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_supernet_parameters_do_not_grow_with_choice_combinations():
    space = registry.get("space", "proxylessnas", width=0.25)
    net = space.build_supernet((1, 8, 8), 10)
    expands = [m for name, m in net.named_modules() if name.endswith(".expand") and m is not None]
    assert len(expands) == len(space.layer_plans())  # one per searchable layer, not one per (kernel, expansion)


def test_single_path_runs_only_the_selected_kernel():
    layer = _layer()
    calls = []
    for i, dw in enumerate(layer.depthwise):
        dw.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    x = torch.randn(2, 16, 6, 6)
    kernel = Selection.one_hot(3, 1)
    expansion = Selection.one_hot(2, 0)
    layer(x, 16, kernel, expansion, None, None, channel_mask(16, 16))
    assert calls == [1]
    calls.clear()
    layer(x, 16, Selection(torch.full((3,), 1 / 3)), expansion, None, None, channel_mask(16, 16))
    assert calls == [0, 1, 2]  # op warmup: every branch, averaged


def test_expansion_mask_zeroes_channels_beyond_choice():
    layer = _layer()
    x = torch.randn(2, 16, 6, 6)
    seen = {}
    layer.depthwise[0].register_forward_hook(lambda m, a, o: seen.update(inp=a[0]))
    layer(x, 16, Selection.one_hot(3, 0), Selection.one_hot(2, 0), None, None, channel_mask(16, 16))
    assert torch.count_nonzero(seen["inp"][:, 48:]) == 0  # expansion 3: 48 of 96 channels live
    assert torch.count_nonzero(seen["inp"][:, :48]) > 0


def test_skip_returns_input():
    layer = _layer()
    x = torch.randn(2, 16, 6, 6)
    out = layer(x, 16, Selection.one_hot(3, 0), Selection.one_hot(2, 0), None, Selection.one_hot(2, 1),
                channel_mask(16, 16))
    assert torch.equal(out, x)


@pytest.mark.parametrize("name", ["proxylessnas-enlarged", "mobilenetv3-like"])
@pytest.mark.parametrize("seed", [0, 1])
def test_sliced_single_path_equals_masked_forward_and_backward(name, seed):
    """The fast path (weights sliced to the chosen channels) computes exactly what masking computes."""
    space = registry.get("space", name, width=0.25, layers=[1, 2, 1, 1, 1] if name == "mobilenetv3-like" else
                         [1, 2, 1, 1, 1, 1])
    torch.manual_seed(seed)
    net = space.build_supernet((3, 12, 12), 10)
    choices = space.sample(torch.Generator().manual_seed(seed))
    x = torch.randn(4, 3, 12, 12)
    results = []
    for use_slices in (True, False):
        for layer in list(net.layers) + [net.first]:
            layer.use_slices = use_slices
        net.zero_grad()
        logits = {d.name: torch.zeros(len(d.choices), requires_grad=True) for d in space.decisions}
        selections = {}
        for d in space.decisions:
            probs = torch.softmax(logits[d.name], -1)
            hard = torch.nn.functional.one_hot(torch.tensor(choices[d.name]), len(d.choices)).float()
            selections[d.name] = Selection(hard - probs.detach() + probs, choices[d.name])  # straight-through
        out = net(x, selections)
        (out * torch.arange(10.0)).sum().backward()
        results.append((out.detach(), {k: v.grad.clone() if v.grad is not None else torch.zeros_like(v)
                                       for k, v in logits.items()},
                        {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                         for n, p in net.named_parameters()}))
    (o1, a1, w1), (o2, a2, w2) = results
    assert torch.allclose(o1, o2, atol=1e-4)
    for k in a1:
        assert torch.allclose(a1[k], a2[k], atol=1e-3), k
    for n in w1:
        assert torch.allclose(w1[n], w2[n], atol=1e-3), n
