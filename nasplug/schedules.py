"""The cosine learning-rate schedule of searches and retraining, on ``torch.optim.lr_scheduler``.

DARTS (and every search and retraining recipe after it) anneals the weight
learning rate from ``lr`` to ``lr_min`` over ``epochs`` epochs,
``lr_min + (lr - lr_min) * (1 + cos(pi * epoch / epochs)) / 2``, set once at
the start of each epoch.  :class:`CosineSchedule` is torch's ``LambdaLR``
whose factor is that rate over a base rate of 1: the product is then the
formula's float exactly (a factor ``rate / lr`` times ``lr`` is off by one ulp
in some epochs, which would make runs differ from those made before).  The
rate is a closed form of the epoch, so a run resumed at epoch ``k`` sets
exactly the rate an uninterrupted run had, with no scheduler state in the
checkpoint.
"""

from __future__ import annotations

import math
import warnings

import torch


def cosine_lr(lr: float, lr_min: float, epoch: int, epochs: int) -> float:
    """The annealed learning rate of ``epoch`` (0-based) of ``epochs``."""
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs))


class CosineSchedule:
    """Cosine annealing of every parameter group of ``optimizer`` from ``lr`` to ``lr_min`` (a ``LambdaLR``)."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, lr_min: float, epochs: int):
        for group in optimizer.param_groups:
            group["initial_lr"] = 1.0  # the base the factor scales: the factor is the rate itself
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: cosine_lr(lr, lr_min, epoch, epochs), last_epoch=0)

    def set_epoch(self, epoch: int) -> float:
        """Set (and return) the learning rate of ``epoch``: the scheduler's closed form, so any order works."""
        self.scheduler.last_epoch = epoch - 1
        with warnings.catch_warnings():  # "step() before optimizer.step()": here the rate is set for the epoch ahead
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        return self.scheduler.get_last_lr()[0]
