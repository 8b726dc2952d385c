"""The device a run asks for, checked against what this torch build and machine really have.

``--device cuda:abc`` or ``--device mps`` on a build without MPS would
otherwise surface as a RuntimeError from deep inside torch.
"""

from __future__ import annotations

import torch

from nasplug.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)`` if this machine can run on it; a one-line ConfigError saying what it has if not."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {name!r} is not a device string ({exc}); use cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r} asked for, but torch sees {count} CUDA device(s): "
                              f"cuda:0..cuda:{count - 1}")
        return device
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device {name!r} asked for, but this torch build or machine has no MPS; use --device cpu")
        return device
    raise ConfigError(f"device {name!r} is not supported; use cpu, cuda, cuda:N or mps")
