"""Refusing a network that cannot fit before a single byte of it is allocated.

``--space-option C=100000000`` used to die in the allocator (or take the
machine down with it).  The network is first built on torch's ``meta``
device, which records shapes and allocates nothing, so the parameter count
is exact for any space; the estimate of what training needs (weights,
gradients, optimizer state: 4 copies of float32) is compared with the memory
the device has free.  Activations are left out: they depend on the batch
size, and the check is meant to catch impossible sizes, not tight ones.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import nn

from nasplug.errors import ConfigError

#: weights, gradients, momentum or two Adam moments: bytes per parameter during training
BYTES_PER_PARAMETER = 4 * 4


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (None when it cannot be told)."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001 - an estimate only
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class TooLargeToCount(Exception):
    """A tensor of the network is so large that its byte size overflows 64 bits (even the meta device refuses)."""


def meta_parameter_count(build: Callable[[], nn.Module]) -> int | None:
    """Parameters of the network ``build`` makes, counted on the meta device (None if it cannot build there).

    Raises :class:`TooLargeToCount` when torch cannot even describe one of its
    tensors (``C = 1e12``: a 2e12 x 1e12 x 3 x 3 weight's size overflows).
    """
    try:
        with torch.device("meta"):
            model = build()
        return sum(p.numel() for p in model.parameters())
    except MemoryError:
        raise
    except RuntimeError as exc:
        if "overflow" in str(exc):
            raise TooLargeToCount(str(exc).splitlines()[0]) from None
        return None
    except Exception:  # noqa: BLE001 - a space whose constructor needs real data: no estimate, build as before
        return None


def check_fits(build: Callable[[], nn.Module], device: torch.device, what: str, options: dict) -> None:
    """Raise a ConfigError naming ``options`` when the network ``build`` makes would not fit in memory."""
    try:
        count = meta_parameter_count(build)
    except TooLargeToCount as exc:
        raise ConfigError(f"the {what} with options {options} is too large to build: one tensor alone would need "
                          "more than 8 EiB (2^63 bytes, where 64-bit sizes overflow); use smaller sizes") from None
    free = available_bytes(device)
    if count is None or free is None:
        return
    need = count * BYTES_PER_PARAMETER
    if need > free:
        raise ConfigError(f"the {what} with options {options} would have {count:,} parameters, about "
                          f"{need / 2**30:.1f} GiB to train, more than the {free / 2**30:.1f} GiB free on {device}; "
                          "use smaller sizes")
