"""Model size and cost: parameter counts and multiply-accumulates (MACs) by forward hooks."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


def count_parameters(model: nn.Module, exclude: Callable[[str], bool] | None = None) -> int:
    """Trainable parameters, skipping names ``exclude`` rejects (an auxiliary head, say)."""
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not (exclude and exclude(n)))


def _conv_macs(module: nn.Conv2d, out: torch.Tensor) -> int:
    k = module.kernel_size[0] * module.kernel_size[1]
    return int(out[0].numel() * k * module.in_channels // module.groups)


@torch.no_grad()
def count_macs(model: nn.Module, example: torch.Tensor, *args: Any) -> int:
    """MACs of one forward pass for one example (the batch size is divided out).

    Counts convolutions and linear layers only, as FLOPs tables in NAS papers
    do; layers that a single-path forward skips are not counted.
    """
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += _conv_macs(module, output)
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
            
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        model(example[:1], *args)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
