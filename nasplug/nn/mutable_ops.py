"""Convolution, linear and batch-norm layers whose widths and kernel size are choices.

They hold the largest weight and share it the way TuNAS (Bender et al.,
CVPR 2020, Sec. 3.2) and Once-for-All do: a width ``c`` uses the first ``c``
filters and its output is zero-padded back to the largest width (TuNAS's
channel mask), so every width has one shape and a mixture over widths is a
weighted sum of masked outputs; a kernel ``k`` is the centre ``k x k`` crop
of the largest kernel (OFA's elastic kernel).  A layer after a masked one
slices its input weights to the channels it receives, so the zero channels
cost nothing and the result equals a real, narrower layer with the sliced
weights -- which is what :meth:`freeze` builds for the child.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasplug.errors import ConfigError
from nasplug.nn.mutable import Mutable, check_input_width, pad_channels
from nasplug.nn.value_choice import ValueChoice, int_choice


def _copy(target: torch.Tensor, source: torch.Tensor) -> None:
    with torch.no_grad():
        target.copy_(source)


class MutableConv2d(Mutable):
    """``nn.Conv2d`` whose ``in_channels``, ``out_channels`` and ``kernel_size`` may be :class:`ValueChoice` s.

    ``padding`` defaults to ``dilation * (k // 2)`` for each kernel ``k`` (the
    same output size for every kernel).  ``groups`` is 1, or the input's
    channels for a depthwise conv (``groups=in_channels`` with
    ``out_channels=in_channels``, the same choice).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride: int = 1, padding: int | None = None,
                 dilation: int = 1, groups=1, bias: bool = True):
        super().__init__()
        self.max_in, self.in_choice = int_choice(in_channels, "MutableConv2d in_channels")
        self.max_out, self.out_choice = int_choice(out_channels, "MutableConv2d out_channels")
        self.max_kernel, self.kernel_choice = int_choice(kernel_size, "MutableConv2d kernel_size")
        self.depthwise = isinstance(groups, ValueChoice) or groups != 1
        if self.depthwise:
            same_choice = groups is in_channels and out_channels is in_channels
            fixed = not any(isinstance(v, ValueChoice) for v in (in_channels, out_channels)) and \
                groups == in_channels == out_channels
            if not (same_choice or fixed):
                raise ConfigError(f"MutableConv2d groups={groups!r} is not allowed; use groups=1, or a depthwise "
                                  "conv: groups=in_channels with out_channels=in_channels (the same object)")
        if self.kernel_choice is not None:
            if padding is not None:
                raise ConfigError(f"MutableConv2d with a kernel-size choice pads each kernel to keep the size; "
                                  f"leave padding unset (got padding={padding!r})")
            odd = {k % 2 for k in self.kernel_choice.values}
            if len(odd) > 1:
                raise ConfigError(f"MutableConv2d kernel sizes {list(self.kernel_choice.values)} must be all odd or "
                                  "all even: a smaller kernel is the centre crop of the largest")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        per_group_in = 1 if self.depthwise else self.max_in
        self.weight = nn.Parameter(torch.empty(self.max_out, per_group_in, self.max_kernel, self.max_kernel))
        self.bias = nn.Parameter(torch.empty(self.max_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reference = nn.Conv2d(self.max_in if not self.depthwise else self.max_out, self.max_out, self.max_kernel,
                              groups=self.max_out if self.depthwise else 1, bias=self.bias is not None)
        _copy(self.weight, reference.weight)
        if self.bias is not None:
            _copy(self.bias, reference.bias)

    def value_choices(self):
        found = [("out_channels", self.out_choice), ("kernel_size", self.kernel_choice)]
        if not self.depthwise:
            found.append(("in_channels", self.in_choice))
        return [(role, c) for role, c in found if c is not None]

    def _kernel_weight(self, weight: torch.Tensor, k: int) -> torch.Tensor:
        start = (self.max_kernel - k) // 2
        return weight[:, :, start:start + k, start:start + k]

    def _pad_for(self, k: int) -> int:
        return self.dilation * (k // 2) if self.padding is None else self.padding

    def _conv(self, x: torch.Tensor, k: int, c: int) -> torch.Tensor:
        limit = self.max_out if self.depthwise else self.max_in
        check_input_width(self, x.shape[1], limit, "channels")
        if self.depthwise:
            x, weight = x[:, :c], self.weight[:c]
        else:
            x = x[:, :self.live_width("in_channels", self.in_choice, x.shape[1])]
            weight = self.weight[:c, :x.shape[1]]
        bias = None if self.bias is None else self.bias[:c]
        out = F.conv2d(x, self._kernel_weight(weight, k), bias, self.stride, self._pad_for(k), self.dilation,
                       c if self.depthwise else 1)
        return pad_channels(out, self.max_out)

    def forward(self, x):
        return self.over("kernel_size", self.kernel_choice, self.max_kernel, x,
                         lambda x, k: self.over("out_channels", self.out_choice, self.max_out, x,
                                                lambda x, c: self._conv(x, k, c)))

    def freeze(self, values, inherit):
        c_out = values.get("out_channels", self.max_out)
        c_in = c_out if self.depthwise else values.get("in_channels", self.max_in)
        k = values.get("kernel_size", self.max_kernel)
        conv = nn.Conv2d(c_in, c_out, k, self.stride, self._pad_for(k), self.dilation,
                         groups=c_out if self.depthwise else 1, bias=self.bias is not None)
        if inherit:
            weight = self.weight[:c_out] if self.depthwise else self.weight[:c_out, :c_in]
            _copy(conv.weight, self._kernel_weight(weight, k))
            if self.bias is not None:
                _copy(conv.bias, self.bias[:c_out])
        return conv


class MutableLinear(Mutable):
    """``nn.Linear`` whose ``in_features`` and ``out_features`` may be :class:`ValueChoice` s."""

    def __init__(self, in_features, out_features, bias: bool = True):
        super().__init__()
        self.max_in, self.in_choice = int_choice(in_features, "MutableLinear in_features")
        self.max_out, self.out_choice = int_choice(out_features, "MutableLinear out_features")
        reference = nn.Linear(self.max_in, self.max_out, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None

    def value_choices(self):
        return [(r, c) for r, c in (("out_features", self.out_choice), ("in_features", self.in_choice))
                if c is not None]

    def _linear(self, x, c):
        check_input_width(self, x.shape[-1], self.max_in, "features")
        x = x[..., :self.live_width("in_features", self.in_choice, x.shape[-1])]
        bias = None if self.bias is None else self.bias[:c]
        return pad_channels(F.linear(x, self.weight[:c, :x.shape[-1]], bias), self.max_out, dim=-1)

    def forward(self, x):
        return self.over("out_features", self.out_choice, self.max_out, x, self._linear)

    def freeze(self, values, inherit):
        c_out = values.get("out_features", self.max_out)
        c_in = values.get("in_features", self.max_in)
        linear = nn.Linear(c_in, c_out, bias=self.bias is not None)
        if inherit:
            _copy(linear.weight, self.weight[:c_out, :c_in])
            if self.bias is not None:
                _copy(linear.bias, self.bias[:c_out])
        return linear


class MutableBatchNorm2d(Mutable):
    """``nn.BatchNorm2d`` over the first ``num_features`` channels (a :class:`ValueChoice`), the rest kept zero.

    Normalising only the live channels keeps the masked ones at zero (a
    full-width batch norm would turn them into its bias) and updates only
    their running statistics: the child's batch norm is the slice.
    """

    def __init__(self, num_features, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.max_features, self.choice = int_choice(num_features, "MutableBatchNorm2d num_features")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ConfigError(f"MutableBatchNorm2d momentum must be a number in [0, 1], got {momentum!r}")
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, float(momentum), affine, \
            track_running_stats
        n = self.max_features
        self.weight = nn.Parameter(torch.ones(n)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(n))
            self.register_buffer("running_var", torch.ones(n))
        else:
            self.running_mean = self.running_var = None

    def value_choices(self):
        return [("num_features", self.choice)] if self.choice is not None else []

    def _norm(self, x, c):
        check_input_width(self, x.shape[1], self.max_features, "channels")
        use_batch = self.training or not self.track_running_stats
        sliced = (lambda t: None if t is None else t[:c])
        out = F.batch_norm(x[:, :c], sliced(self.running_mean), sliced(self.running_var), sliced(self.weight),
                           sliced(self.bias), use_batch, self.momentum, self.eps)
        return pad_channels(out, self.max_features)

    def forward(self, x):
        return self.over("num_features", self.choice, self.max_features, x, self._norm)

    def freeze(self, values, inherit):
        c = values.get("num_features", self.max_features)
        bn = nn.BatchNorm2d(c, self.eps, self.momentum, self.affine, self.track_running_stats)
        if inherit:
            for name in ("weight", "bias", "running_mean", "running_var"):
                source = getattr(self, name)
                if source is not None:
                    _copy(getattr(bn, name), source[:c])
        return bn
