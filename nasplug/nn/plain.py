"""Plain modules a child network may need beside torch's own; they import torch only.

A chosen :class:`~nasplug.nn.InputChoice` has no torch equivalent (pick some of a
list of tensors and reduce them), so its child is :class:`SelectInputs`.  This
file depends on nothing but torch, so an exported model can ship its source.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn


class SelectInputs(nn.Module):
    """Keeps ``indices`` of a list of tensors and reduces them by ``reduction`` (sum, mean or concat)."""

    def __init__(self, indices: Sequence[int], reduction: str):
        super().__init__()
        self.indices = [int(i) for i in indices]
        self.reduction = reduction

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        chosen = [inputs[i] for i in self.indices]
        if self.reduction == "concat":
            return torch.cat(chosen, dim=1)
        out = chosen[0]
        for t in chosen[1:]:
            out = out + t
        if self.reduction == "mean":
            out = out / len(chosen)
        return out
