"""Retraining speed options (``TrainConfig.amp``, ``compile``, ``num_workers``, ``pin_memory``), checked against the device.

* ``amp="bf16"``: ``torch.autocast`` with bfloat16 on CPU or a CUDA device
  that supports it; bfloat16 has float32's range, so no loss scaling.
* ``amp="fp16"``: float16 autocast with a ``GradScaler``, CUDA only.  On a
  CPU it is refused rather than silently run in float32 or slowly in
  float16: CPU kernels gain nothing from float16, and bf16 is the CPU's
  mixed precision.
* ``compile=True``: ``torch.compile`` of the child for the training
  steps; checkpoints hold the uncompiled module's weights, so they load
  with or without it.  Compiling takes minutes on a CPU (it pays off on
  GPUs and long runs).
* ``num_workers``: DataLoader worker processes.  nasplug's datasets are
  tensors in memory, so workers pay off only where per-example work
  (augmentation) is the bottleneck.  Worker seeds come from the loader's
  generator, which the trainer reseeds each epoch: without augmentation,
  every ``num_workers`` gives the same batches as 0; with augmentation the
  crops are the same run to run for one ``num_workers`` but differ between
  0 (the main process's generator) and N (per-worker generators).
* ``pin_memory``: page-locked host batches for faster, asynchronous copies
  to a CUDA device; ``None`` turns it on exactly when the device is CUDA.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch

from nasplug.errors import ConfigError

logger = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(amp: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or a ConfigError saying why not."""
    if amp is None:
        return None
    if amp not in AMP_DTYPES:
        raise ConfigError(f"amp must be None, 'bf16' or 'fp16'; got {amp!r}")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"amp={amp!r} is supported on 'cpu' (bf16) and 'cuda' devices, not {device.type!r}")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp='fp16' needs a CUDA device (float16 on a CPU is slower, not faster); "
                          "use amp='bf16' on a CPU")
    if amp == "bf16" and device.type == "cuda" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ConfigError("amp='bf16' asked for, but this CUDA device has no bfloat16 support; use amp='fp16'")
    return AMP_DTYPES[amp]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype``, or a no-op context without mixed precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(dtype: torch.dtype | None):
    """A GradScaler for float16 training (its small range underflows gradients without one); None otherwise."""
    if dtype is not torch.float16:
        return None
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


def compiled(model: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """``torch.compile(model)`` when asked (a clear error where this torch cannot), else ``model`` itself."""
    if not enabled:
        return model
    if not hasattr(torch, "compile"):
        raise ConfigError(f"compile=True needs torch.compile (torch >= 2.0); this is torch {torch.__version__}")
    logger.info("compiling the child with torch.compile (the first steps take longer)")
    return torch.compile(model)


def loader_options(num_workers: int, pin_memory: bool | None, device: torch.device) -> dict[str, Any]:
    """DataLoader keyword arguments for the config's workers and pinning on ``device``."""
    pin = device.type == "cuda" if pin_memory is None else bool(pin_memory)
    if pin and device.type != "cuda":
        raise ConfigError(f"pin_memory=True only helps copies to a CUDA device; the device is {device.type!r}")
    return {"num_workers": num_workers, "pin_memory": pin}
