"""Model size and cost: parameter counts and multiply-accumulates (MACs) counted by torch's FlopCounterMode."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module, exclude: Callable[[str], bool] | None = None) -> int:
    """Trainable parameters, skipping names ``exclude`` rejects (an auxiliary head, say)."""
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not (exclude and exclude(n)))


@torch.no_grad()
def count_macs(model: nn.Module, example: torch.Tensor, *args: Any) -> int:
    """MACs of one forward pass for one example (the batch size is divided out).

    Counts the matrix products torch executes (convolutions, linear layers,
    matmuls) as FLOPs tables in NAS papers do, at the ATen level: a
    functional ``F.conv2d`` on a weight slice (TuNAS's single path) counts
    exactly the channels it computes, and layers a single-path forward skips
    are not counted.  Forward hooks on ``nn.Conv2d`` would miss the former.
    """
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(example[:1], *args)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2  # FlopCounterMode counts a multiply-accumulate as 2 FLOPs
