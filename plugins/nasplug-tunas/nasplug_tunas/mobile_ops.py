"""Layers of the MobileNet-style spaces: exact child layers and their weight-sharing supernet versions.

The supernet layer implements the aggressive weight sharing of Sec. 4.1
(Figure 2):

* operation collapsing: one 1x1 expansion conv and one 1x1 projection conv
  per layer, shared by every depthwise kernel size; each kernel size keeps
  its own depthwise weights and batch norm (as the official code does);
* channel masking: every conv holds the largest channel count any choice
  needs, and a choice with N channels keeps the first N and zeroes the rest
  (:func:`channel_mask`), so expansion ratios and output filter sizes are
  masks over one tensor.

A mask built from a :class:`~nasplug.components.Selection` is the
selection-weighted sum of the choices' binary masks, so a straight-through
Gumbel weight (GDAS) carries gradient to the filter logits.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasplug.components import Selection


def make_divisible(value: float, divisor: int = 8, minimum: int | None = None) -> int:
    """Round to the nearest multiple of ``divisor`` (MobileNet's rule: never drop below 90% of value)."""
    minimum = minimum or divisor
    rounded = max(minimum, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "swish":
        return nn.SiLU(inplace=False)
    raise ValueError(f"unknown activation {name!r}; allowed: relu, swish")


def channel_mask(num_active: int, num_max: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """1 for the first ``num_active`` channels, 0 for the rest: shape (1, num_max, 1, 1)."""
    mask = (torch.arange(num_max, device=device) < num_active).to(dtype)
    return mask.view(1, num_max, 1, 1)


def selection_mask(selection: Selection | None, counts: Sequence[int], num_max: int, device=None) -> torch.Tensor:
    """The channel mask a filter selection asks for: sum_k w_k * mask(counts[k]).

    Single-path selections contribute one weighted mask; mixtures (filter
    warmup does not use them, but a DARTS-style sampler might) the weighted sum.
    """
    if selection is None:
        return channel_mask(max(counts), num_max, device)
    if selection.index is not None:
        i = selection.index
        return selection.weights[i] * channel_mask(counts[i], num_max, device)
    mask = None
    for w, c in zip(selection.weights, counts):
        if w.requires_grad or float(w) != 0.0:
            term = w * channel_mask(c, num_max, device)
            mask = term if mask is None else mask + term
    return mask


def active_count(selection: Selection | None, counts: Sequence[int]) -> int:
    """Channels a selection keeps alive: its index's count, or the largest count with non-zero weight."""
    if selection is None:
        return max(counts)
    if selection.index is not None:
        return counts[selection.index]
    return max(c for w, c in zip(selection.weights, counts) if w.requires_grad or float(w) != 0.0)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite as in MobileNetV3: pool, 1x1 reduce (1/4), ReLU, 1x1 expand, hard sigmoid, scale."""

    def __init__(self, channels: int, divisor: int = 8):
        super().__init__()
        self.divisor = divisor
        reduced = self.reduced(channels)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def reduced(self, channels: int) -> int:
        """The squeeze width for ``channels`` live channels (a supernet's shared SE serves narrower children)."""
        return make_divisible(channels / 4, self.divisor)

    def forward(self, x, live: int | None = None):
        s = F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1)))
        if live is not None and live < self.reduce.in_channels:  # the squeeze width of the child with ``live``
            s = s * channel_mask(self.reduced(live), self.reduce.out_channels, x.device)
        s = self.expand(s)
        return x * F.hardsigmoid(s)


class ConvBNAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, act: str | None, groups: int = 1):
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(c_out)]
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class InvertedBottleneck(nn.Module):
    """A standalone MobileNetV2/V3 inverted bottleneck with exact channel counts (child networks)."""

    def __init__(self, c_in: int, c_out: int, c_expand: int, kernel: int, stride: int, se: bool, act: str,
                 divisor: int = 8, residual: bool | None = None):
        super().__init__()
        self.expand = ConvBNAct(c_in, c_expand, 1, 1, act) if c_expand != c_in else None
        self.depthwise = ConvBNAct(c_expand, c_expand, kernel, stride, act, groups=c_expand)
        self.se = SqueezeExcite(c_expand, divisor) if se else None
        self.project = ConvBNAct(c_expand, c_out, 1, 1, None)
        # the supernet decides residual connections by position, not by a coincidence of widths
        self.residual = (stride == 1 and c_in == c_out) if residual is None else bool(residual)

    def forward(self, x):
        h = self.expand(x) if self.expand is not None else x
        h = self.depthwise(h)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return x + h if self.residual else h


class SharedInvertedBottleneck(nn.Module):
    """The supernet version of one searchable layer, with op collapsing and channel masking.

    ``forward(x, in_count, kernel, expansion, se, skip, filters)`` takes the
    layer's selections (None for a decision the layer does not have) and the
    number of live input channels; the expanded width of expansion choice e is
    ``make_divisible(e * in_count)`` as in a child network.
    """

    def __init__(self, c_in_max: int, c_out_max: int, stride: int, kernels: Sequence[int],
                 expansions: Sequence[float], se: bool, act: str, residual: bool, divisor: int = 8):
        super().__init__()
        self.kernels, self.expansions = tuple(kernels), tuple(expansions)
        self.stride, self.residual, self.divisor = stride, residual, divisor
        self.c_in_max, self.c_out_max = c_in_max, c_out_max
        self.c_expand_max = make_divisible(max(expansions) * c_in_max, divisor)
        # one shared expansion conv (op collapsing); omitted where every choice is expansion 1
        self.expand = ConvBNAct(c_in_max, self.c_expand_max, 1, 1, act) \
            if max(expansions) != 1 or len(expansions) > 1 else None
        self.depthwise = nn.ModuleList(ConvBNAct(self.c_expand_max, self.c_expand_max, k, stride, act,
                                                 groups=self.c_expand_max) for k in self.kernels)
        self.se = SqueezeExcite(self.c_expand_max, divisor) if se else None
        self.project = ConvBNAct(self.c_expand_max, c_out_max, 1, 1, None)
        self.align_kernel_init()

    @torch.no_grad()
    def align_kernel_init(self) -> None:
        """Start every depthwise kernel as the smallest one, zero-padded: all kernel choices begin as one function.

        The paper and notes are silent on initialisation.  With independent
        random kernels, the kernel choice changes the features the shared
        projection sees from step to step (by a random sign per channel where
        the map is small), which stalls short searches; aligned kernels
        diverge only as training shows them different gradients.
        """
        smallest = self.depthwise[min(range(len(self.kernels)), key=lambda i: self.kernels[i])][0].weight
        for k, branch in zip(self.kernels, self.depthwise):
            weight = branch[0].weight
            if weight is smallest:
                continue
            pad = (weight.shape[-1] - smallest.shape[-1]) // 2
            weight.zero_()
            weight[:, :, pad: pad + smallest.shape[-2], pad: pad + smallest.shape[-1]] = smallest

    def expand_counts(self, in_count: int) -> list[int]:
        return [make_divisible(e * in_count, self.divisor) if e != 1 else in_count for e in self.expansions]

    #: compute single-path selections on weight slices (same outputs and gradients as masking, fewer FLOPs)
    use_slices = True

    def forward(self, x, in_count: int, kernel: Selection | None, expansion: Selection | None,
                se: Selection | None, skip: Selection | None, out_mask: torch.Tensor,
                out_count: int | None = None, out_scale: torch.Tensor | None = None):
        if skip is not None and skip.index == 1:  # the layer is skipped: identity, weighted for straight-through
            return skip.weights[1] * x
        single = all(s is None or s.index is not None for s in (kernel, expansion, se))
        if self.use_slices and single and out_count is not None:
            y = self._sliced(x, in_count, kernel, expansion, se, out_count, out_scale)
        else:
            y = self._masked(x, in_count, kernel, expansion, se, out_mask)
        if self.residual:
            y = x + y
        if skip is not None:
            if skip.index == 0:
                y = skip.weights[0] * y
            elif skip.index is None:  # op warmup: average of the layer and its skip
                y = skip.weights[0] * y + skip.weights[1] * x
        return y

    def _sliced(self, x, in_count, kernel, expansion, se, out_count, out_scale):
        """Channel masking computed on the first N channels of each kernel: exactly the masked result."""
        counts = self.expand_counts(in_count)
        if self.expand is not None:
            e = 0 if expansion is None else expansion.index
            n_exp = counts[e] if expansion is not None else max(counts)
            if expansion is not None and self.expansions[e] == 1:  # no expansion conv, as in the child
                h = x[:, :in_count]
            else:
                conv, bn, act = self.expand
                h = act(_bn_slice(bn, F.conv2d(x[:, :in_count], conv.weight[:n_exp, :in_count]), n_exp))
            if expansion is not None:
                h = expansion.weights[e] * h
        else:
            n_exp = in_count
            h = x[:, :in_count]
        k = 0 if kernel is None else kernel.index
        conv, bn, act = self.depthwise[k]
        d = act(_bn_slice(bn, F.conv2d(h, conv.weight[:n_exp], None, conv.stride, conv.padding, 1, n_exp), n_exp))
        if kernel is not None:
            d = kernel.weights[k] * d
        if self.se is not None and se is not None:
            if se.index == 1:
                pooled = F.adaptive_avg_pool2d(d, 1)
                r = self.se.reduced(n_exp)
                s = F.relu(F.conv2d(pooled, self.se.reduce.weight[:r, :n_exp], self.se.reduce.bias[:r]))
                s = F.conv2d(s, self.se.expand.weight[:n_exp, :r], self.se.expand.bias[:n_exp])
                d = d * F.hardsigmoid(s)
            d = se.weights[se.index] * d
        conv, bn = self.project[0], self.project[1]
        y = _bn_slice(bn, F.conv2d(d, conv.weight[:out_count, :n_exp]), out_count)
        if out_scale is not None:
            y = out_scale * y
        if out_count < self.c_out_max:
            y = F.pad(y, (0, 0, 0, 0, 0, self.c_out_max - out_count))
        return y

    def _masked(self, x, in_count, kernel, expansion, se, out_mask):
        counts = self.expand_counts(in_count)
        if self.expand is not None and expansion is not None and 1 in self.expansions:
            h = self._expand_with_identity(x, expansion, counts)
            e_mask = channel_mask(active_count(expansion, counts), self.c_expand_max, x.device)
        elif self.expand is not None:
            e_mask = selection_mask(expansion, counts, self.c_expand_max, x.device)
            h = self.expand(x) * e_mask
        else:
            e_mask = channel_mask(in_count, self.c_expand_max, x.device)
            h = x
        support = (e_mask != 0).to(h.dtype)  # re-zero masked channels after each batch norm
        # collapsed depthwise choice: only the selected kernel(s) run
        if kernel is None:
            d = self.depthwise[0](h) * support
        elif kernel.index is not None:
            d = kernel.weights[kernel.index] * self.depthwise[kernel.index](h) * support
        else:
            d = None
            for w, op in zip(kernel.weights, self.depthwise):
                if w.requires_grad or float(w) != 0.0:
                    term = w * op(h)
                    d = term if d is None else d + term
            d = d * support
        if self.se is not None and se is not None:
            live = in_count if self.expand is None else \
                (max(counts) if expansion is None else active_count(expansion, counts))
            if se.index is not None:
                d = se.weights[se.index] * (self.se(d, live) if se.index == 1 else d)
            else:
                d = se.weights[0] * d + se.weights[1] * self.se(d, live)
        return self.project(d) * out_mask


    def _expand_with_identity(self, x, expansion: Selection, counts: Sequence[int]) -> torch.Tensor:
        """Masked expansion where ratio 1 is the input itself (MobileNetV3 and the child have no conv there)."""
        one = self.expansions.index(1)
        identity = F.pad(x, (0, 0, 0, 0, 0, self.c_expand_max - x.shape[1]))
        weights = expansion.weights
        if expansion.index == one:
            return weights[one] * identity
        if expansion.index is not None:
            return self.expand(x) * selection_mask(expansion, counts, self.c_expand_max, x.device)
        mask = None
        for k, (w, c) in enumerate(zip(weights, counts)):
            if k != one and (w.requires_grad or float(w) != 0.0):
                term = w * channel_mask(c, self.c_expand_max, x.device)
                mask = term if mask is None else mask + term
        h = weights[one] * identity
        return h if mask is None else h + self.expand(x) * mask


def _bn_slice(bn: nn.BatchNorm2d, x: torch.Tensor, n: int) -> torch.Tensor:
    """Batch norm of the first ``n`` channels with the matching slices of its parameters and statistics."""
    if n == bn.num_features:
        return bn(x)
    use_batch = bn.training or bn.running_mean is None
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    return F.batch_norm(x, None if bn.running_mean is None else bn.running_mean[:n],
                        None if bn.running_var is None else bn.running_var[:n],
                        bn.weight[:n] if bn.weight is not None else None, bn.bias[:n] if bn.bias is not None else None,
                        use_batch, 0.1 if bn.momentum is None else bn.momentum, bn.eps)
