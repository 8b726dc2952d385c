"""Export a found network as a file that loads and runs where nasplug is not installed.

``export_model(source, out_dir, format)`` (:mod:`nasplug.export.api`) writes
``pt`` (``model.py`` + ``weights.pt``, plain PyTorch), ``torchscript``
(``model.ts.pt``) or ``onnx`` (``model.onnx``, checked with ONNX Runtime).
Names are imported on first use, so the ``nasplug export`` command's
``--help`` does not import torch.
"""

from __future__ import annotations

from nasplug.lazy import lazy_exports

#: the formats export_model writes (a plain tuple here: reading it must not import torch)
FORMATS = ("pt", "torchscript", "onnx")

_LAZY = {"export_model": "nasplug.export.api", "ExportResult": "nasplug.export.api",
         "check_format": "nasplug.export.api"}
__all__ = ["FORMATS", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
