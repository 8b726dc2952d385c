"""Catching a diverged search at the step where it diverges.

A huge learning rate turns the loss, then the gradients, then every weight
into NaN; left alone the run would derive a genotype from NaN parameters and
overwrite its last good checkpoint with them.  The checks are cheap (the loss
is already a Python float, the gradient norm is what clipping computes anyway,
the architecture parameters are a few hundred numbers) and run every step.

``on_nonfinite="stop"`` (the default) raises :class:`DivergenceError` naming
the epoch, the step and the quantity; the checkpoint of the last finished
epoch stays untouched and resumable.  ``"skip"`` drops the offending step
instead (its weight update is not applied, the architecture step is undone)
and counts it in the epoch's ``skipped_steps``.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from nasplug.errors import NasplugError

POLICIES = ("stop", "skip")


class DivergenceError(NasplugError):
    """A loss, gradient or parameter became NaN or infinite."""

    def __init__(self, quantity: str, value: float, epoch: int, step: int, checkpoint: str | None = None,
                 skipping: bool = False):
        self.quantity, self.value, self.epoch, self.step = quantity, value, epoch, step
        kept = (f"; the last checkpoint {checkpoint} is kept unchanged and `nasplug resume` continues from it"
                if checkpoint else "")
        advice = ("lower the learning rates, set grad_clip > 0, or check the data for NaN or infinite values "
                  "(skipping steps did not keep it finite)" if skipping else
                  "lower the learning rates, set grad_clip > 0, or pass --on-nonfinite skip to skip such steps")
        super().__init__(
            f"non-finite {quantity} ({value}) at epoch {epoch + 1} step {step + 1}: the search diverged{kept}; "
            f"{advice}")


def is_finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to check


def first_nonfinite_tensor(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor with a NaN or infinity, or None."""
    for name, tensor in named:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def running_statistics(module: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Copies of ``module``'s buffers (BatchNorm running mean, variance and count) for :func:`restore`.

    A forward pass in training mode updates them before the loss can be
    looked at, so a skipped step (a NaN input batch) must put them back, or
    every later evaluation reads NaN statistics.
    """
    return [(buffer, buffer.detach().clone()) for buffer in module.buffers()]


def restore(saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for buffer, copy in saved:
            buffer.copy_(copy)


def gradient_norm(parameters, clip: float) -> torch.Tensor:
    """The total gradient norm, clipping to ``clip`` when it is > 0 (what the step does anyway)."""
    parameters = [p for p in parameters if p.grad is not None]
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(parameters, clip)
    if not parameters:
        return torch.zeros(())
    get_total_norm = getattr(torch.nn.utils, "get_total_norm", None)
    if get_total_norm is not None:
        return get_total_norm([p.grad for p in parameters])
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters]))
