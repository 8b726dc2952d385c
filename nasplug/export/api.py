"""``export_model``: a found network as a file that loads and runs where nasplug is not installed.

``export_model(source, out_dir, format)`` writes, for ``format``:

* ``pt``: ``model.py`` (one page of plain PyTorch: the layers and the traced
  forward) and ``weights.pt`` (its state dict); ``import model;
  m = model.Model(); m.load_state_dict(torch.load("weights.pt"))``.  A network
  that cannot be written as plain torch (control flow on tensor values, calls
  into other libraries) falls back to TorchScript, and the result says why.
* ``torchscript``: ``model.ts.pt`` for ``torch.jit.load``.
* ``onnx``: ``model.onnx`` via ``torch.onnx.export``, checked with ONNX
  Runtime (``pip install "nasplug[onnx]"``).

Every file is checked right after it is written: its outputs on a fixed batch
must match the PyTorch network's within 1e-5.  ``export.json`` records what
was exported, from where, with which weights, and the difference measured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import attrs
import torch

from nasplug.errors import ConfigError
from nasplug.export import FORMATS

logger = logging.getLogger(__name__)

#: the export folder of a run directory when no ``out_dir`` is given
RUN_EXPORT_DIR = "export"
MANIFEST = "export.json"


@attrs.frozen
class ExportResult:
    format: str
    files: tuple[Path, ...]
    max_difference: float
    weights: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "files": [str(f) for f in self.files], "max_abs_difference": self.max_difference,
                "weights": self.weights, "note": self.note}


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; allowed: {', '.join(FORMATS)}")
    return format


def default_out_dir(source: Any) -> Path:
    """``RUN_DIR/export`` for a run directory, ``export`` beside a genotype file."""
    path = Path(source)
    return path / RUN_EXPORT_DIR if path.is_dir() else path.parent / RUN_EXPORT_DIR


def export_model(source: Any, out_dir: str | Path | None = None, format: str = "pt",
                 example_input: torch.Tensor | None = None, input_shape: tuple[int, ...] | None = None,
                 num_classes: int | None = None, batch_size: int = 2, opset: int | None = None,
                 space_options: Mapping[str, Any] | None = None, registry=None) -> ExportResult:
    """Write ``source`` (an ``nn.Module`` child, a genotype.json path or a run directory) as ``format``.

    ``example_input`` (or a random batch of ``batch_size`` x ``input_shape``,
    seed 0) is what the network is traced on and what the check compares; the
    run's data set gives the input shape and number of classes when they are
    not passed.  An ``nn.Module`` is exported in eval mode and put back in the
    mode it was in.
    """
    from nasplug.export import formats
    from nasplug.export.source import resolve

    check_format(format)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"export batch_size must be a positive integer, got {batch_size!r}")
    if format == "onnx":
        formats.require_onnx()  # before anything is built
    if out_dir is None:
        if isinstance(source, torch.nn.Module):
            raise ConfigError("exporting a torch.nn.Module needs out_dir")
        out_dir = default_out_dir(source)
    out = Path(out_dir)
    if input_shape is None and example_input is not None:
        input_shape = tuple(example_input.shape[1:])
    found = resolve(source, registry, input_shape, num_classes, space_options)
    if example_input is None:
        if found.input_shape is None:
            raise ConfigError("export of a torch.nn.Module needs example_input (a batch) or input_shape=(C, H, W)")
        example_input = torch.randn((batch_size,) + tuple(found.input_shape), generator=torch.Generator().manual_seed(0))
    model = found.model
    was_training = model.training
    model.eval()
    try:
        note = None
        if format == "pt":
            files, difference, note = formats.write_pt(model, example_input, out, found.title)
        elif format == "torchscript":
            files, difference, _ = formats.write_torchscript(model, example_input, out)
        else:
            files, difference = formats.write_onnx(model, example_input, out, opset)
    finally:
        model.train(was_training)
    if note:
        logger.warning(f"the network {note}")
    result = ExportResult(format, tuple(files), difference, found.weights, note)
    record = {**result.to_dict(), "input_shape": list(example_input.shape[1:]),
              "source": None if isinstance(source, torch.nn.Module) else str(source),
              "genotype": found.record, "torch": torch.__version__}
    _record_export(out / MANIFEST, format, record)
    return result



def _record_export(path: Path, format: str, record: dict[str, Any]) -> None:
    """``export.json``: one entry per format written to the folder (a later export of a format replaces its own)."""
    from nasplug.errors import RunDirError
    from nasplug.rundir import atomic_write_json, read_json

    try:
        manifest = read_json(path, "the export record") if path.exists() else {}
    except RunDirError:
        manifest = {}
    manifest[format] = record
    atomic_write_json(path, manifest, "the export record")
