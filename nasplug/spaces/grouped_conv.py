"""Grouped (depthwise) convolutions whose double backward stays cheap.

Exact second-order architecture gradients (Amended-DARTS's H v and mixed
product, DARTS-2nd with ``hvp="exact"``) differentiate the weight gradient
of the training loss once more.  For a grouped convolution PyTorch's
``_convolution_double_backward`` computes the weight term group by group:
a 64-channel depthwise conv becomes 64 small convolutions, and on the DARTS
supernet that loop was most of the convolution calls of an amended step.

The conv is bilinear in (input, weight), so its double backward is three
ordinary convolution products that the native kernels do for all groups at
once.  Given the incoming gradients ggx (of grad_input) and ggw (of
grad_weight):

* d/d grad_output = conv(ggx, w) + conv(x, ggw)
* d/d input       = input-gradient of conv(x, ggw) at grad_output
* d/d weight      = weight-gradient of conv(ggx, w) at grad_output

:class:`GroupedConv2d` is an ``nn.Conv2d`` (same parameters, same
state dict, same first-order kernels and results); only inside
:func:`second_order_graph` does it record the pair of autograd functions
below, so first-order training, export and tracing never see them.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

_RECORDING = contextvars.ContextVar("nasplug_second_order_graph", default=False)


@contextlib.contextmanager
def second_order_graph():
    """Record forward passes run inside this block for a later double backward.

    Only the forward pass of the loss whose gradient will be differentiated
    again needs to be inside; its ``create_graph=True`` backward and the
    double backward can run anywhere.
    """
    token = _RECORDING.set(True)
    try:
        yield
    finally:
        _RECORDING.reset(token)


class _Geometry(NamedTuple):
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def _input_and_weight_grads(grad_output, x, w, geometry: _Geometry, mask: tuple[bool, bool]):
    """The native first-order kernel: (grad_input, grad_weight), each None where not asked for."""
    gx, gw, _ = torch.ops.aten.convolution_backward(
        grad_output, x, w, None, list(geometry.stride), list(geometry.padding), list(geometry.dilation),
        False, [0, 0], geometry.groups, [mask[0], mask[1], False])
    return (gx if mask[0] else None), (gw if mask[1] else None)


def _engine_needs(ctx, index: int) -> bool:
    """Whether this backward pass uses the gradient of input ``index``.

    ``ctx.needs_input_grad`` only says the input requires grad; a product
    with respect to alpha alone must not pay for weight gradients, which is
    what native autograd nodes skip too.
    """
    if not ctx.needs_input_grad[index]:
        return False
    node = ctx.next_functions[index][0]
    if node is None:
        return False
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except (RuntimeError, AttributeError):  # a leaf under autograd.grad, or a torch without the query
        return True


class _GroupedConvBackward(torch.autograd.Function):
    """(grad_input, grad_weight) of a grouped conv, with the three-product double backward."""

    @staticmethod
    def forward(ctx, grad_output, x, w, geometry: _Geometry, mask: tuple[bool, bool]):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(grad_output, x, w)
        ctx.geometry = geometry
        return _input_and_weight_grads(grad_output, x, w, geometry, mask)

    @staticmethod
    @once_differentiable
    def backward(ctx, ggx, ggw):
        grad_output, x, w = ctx.saved_tensors
        geo = ctx.geometry
        d_grad_output = d_x = d_w = None
        if _engine_needs(ctx, 0):
            terms = []
            if ggx is not None:
                terms.append(F.conv2d(ggx, w, None, geo.stride, geo.padding, geo.dilation, geo.groups))
            if ggw is not None:
                terms.append(F.conv2d(x, ggw, None, geo.stride, geo.padding, geo.dilation, geo.groups))
            d_grad_output = sum(terms[1:], terms[0]) if terms else None
        if ggw is not None and _engine_needs(ctx, 1):
            d_x = _input_and_weight_grads(grad_output, x, ggw, geo, (True, False))[0]
        if ggx is not None and _engine_needs(ctx, 2):
            d_w = _input_and_weight_grads(grad_output, ggx, w, geo, (False, True))[1]
        return d_grad_output, d_x, d_w, None, None


class _GroupedConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, geometry: _Geometry):
        ctx.save_for_backward(x, w)
        ctx.geometry = geometry
        return F.conv2d(x, w, None, geometry.stride, geometry.padding, geometry.dilation, geometry.groups)

    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        mask = (_engine_needs(ctx, 0), _engine_needs(ctx, 1))
        if not torch.is_grad_enabled():  # a first-order pass over a graph built for second order
            gx, gw = _input_and_weight_grads(grad_output, x, w, ctx.geometry, mask)
        else:
            # through a view, so the double backward can ask the engine whether it needs d/dw
            # (the engine cannot answer that for a leaf under autograd.grad)
            gx, gw = _GroupedConvBackward.apply(grad_output, x, w.view_as(w), ctx.geometry, mask)
        return gx, gw, None


class GroupedConv2d(nn.Conv2d):
    """``nn.Conv2d`` that records a cheap double backward inside :func:`second_order_graph`."""

    def _conv_forward(self, input, weight, bias):
        if (_RECORDING.get() and bias is None and self.groups > 1 and self.padding_mode == "zeros"
                and not isinstance(self.padding, str)):
            geometry = _Geometry(tuple(self.stride), tuple(self.padding), tuple(self.dilation), self.groups)
            return _GroupedConv.apply(input, weight, geometry)
        return super()._conv_forward(input, weight, bias)
