"""What a run was made with: package versions, Python, the host and the device.

Written into ``config.json`` and ``result.json`` so that a result can be
traced to the code that produced it, and so that ``nasplug resume`` can say
(or, with ``--strict``, refuse) when a plugin, the kernel or torch changed
under a half-finished search.
"""

from __future__ import annotations

import platform
from typing import Any, Iterable, Mapping

import torch


def describe_device(device: str | torch.device) -> str:
    """``"cpu (x86_64)"`` or ``"cuda:0 (NVIDIA H100 80GB HBM3)"``: the accelerator's name where there is one."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({platform.machine() or platform.processor() or 'unknown'})"


def distributions(registry) -> dict[str, str | None]:
    """Every loaded plugin distribution (the kernel included) and its version."""
    return {info.distribution: info.version for info in registry.loaded.plugins.values()}


def provenance(registry, device: str | torch.device) -> dict[str, Any]:
    """The software and machine a run is made on."""
    versions = distributions(registry)
    return {
        "nasplug": versions.get("nasplug"),
        "distributions": versions,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "platform": platform.platform(),
        "device": describe_device(device),
    }


def version_changes(recorded: Mapping[str, Any], current: Mapping[str, Any],
                    contributing: Iterable[tuple[str, str | None]]) -> list[str]:
    """What differs between a run's recorded provenance and now, for the code that ran it.

    ``contributing`` lists (distribution, recorded version) for each
    component the run uses; the kernel and torch always count.
    """
    changes = []
    now = current.get("distributions", {})
    seen = set()
    for dist, version in sorted(set(contributing), key=str):
        seen.add(dist)
        if dist not in now:
            changes.append(f"{dist} {version} is no longer installed")
        elif now[dist] != version:
            changes.append(f"{dist} {version} -> {now[dist]}")
    for key in ("nasplug", "torch"):
        if key in recorded and recorded[key] != current.get(key) and key not in seen:
            changes.append(f"{key} {recorded[key]} -> {current.get(key)}")
    return changes
