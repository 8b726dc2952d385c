"""Writers of the three export formats, each checked against the PyTorch network right after it is written.

Every writer returns the files it wrote and the largest absolute difference
between the exported network's outputs and the original's on the example
batch; :func:`check_close` refuses an export whose outputs differ by more than
the tolerance, so a file that leaves here runs and agrees.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from nasplug.errors import ConfigError, NasplugError
from nasplug.export import python_source
from nasplug.rundir import atomic_torch_save, atomic_write_bytes

logger = logging.getLogger(__name__)

#: outputs of an exported network may differ from PyTorch's by at most this much (absolute)
ATOL = 1e-5
ONNX_HINT = 'ONNX export needs onnx and onnxruntime: pip install "nasplug[onnx]"'


class ExportMismatch(NasplugError):
    """The exported file's outputs differ from the PyTorch network's."""


def outputs(value: Any) -> list[torch.Tensor]:
    """A network's output(s) as a flat list of tensors (a child may return logits or a tuple)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in outputs(v)]
    raise NasplugError(f"the network returned a {type(value).__name__}; export needs tensors")


def max_difference(expected: list[torch.Tensor], got: list[Any]) -> float:
    if len(expected) != len(got):
        raise ExportMismatch(f"the exported network returns {len(got)} outputs, PyTorch's {len(expected)}")
    worst = 0.0
    for e, g in zip(expected, got):
        g = torch.as_tensor(g)
        if tuple(e.shape) != tuple(g.shape):
            raise ExportMismatch(f"output shape {tuple(g.shape)} differs from PyTorch's {tuple(e.shape)}")
        worst = max(worst, float((e.float() - g.float()).abs().max())) if e.numel() else worst
    return worst


def check_close(what: str, difference: float, atol: float = ATOL) -> None:
    if not difference <= atol:
        raise ExportMismatch(f"{what} differs from the PyTorch network by {difference:.3g} (allowed {atol:g}); "
                             "please report this with the run directory")


def _quiet(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` without torch's deprecation chatter (jit.trace and the legacy ONNX exporter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*(deprecated|legacy|will be removed|Constant folding).*")
        return fn()


def write_pt(model: nn.Module, example: torch.Tensor, out: Path, title: str) -> tuple[list[Path], float, str | None]:
    """``model.py`` + ``weights.pt``; a network fx cannot write as plain torch falls back to TorchScript.

    Returns the files, the checked difference, and the reason for the
    fallback (None when ``model.py`` was written).
    """
    try:
        gm = python_source.trace(model, example)
        text, state = python_source.write_source(gm, title, tuple(example.shape))
    except python_source.NotPlainTorch as exc:
        files, difference, method = write_torchscript(model, example, out, script_first=True)
        reason = (f"cannot be written as plain PyTorch source: {exc}; wrote TorchScript ({method}; load it with "
                  "torch.jit.load) instead")
        if method == "torch.jit.trace":
            reason += ": its branches on tensor values follow the example batch"
        return files, difference, reason
    rebuilt = python_source.load_source(text).Model()
    try:
        rebuilt.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ExportMismatch(f"the generated model.py does not load its own weights ({str(exc).splitlines()[0]})")
    with torch.no_grad():
        difference = max_difference(outputs(model(example)), outputs(rebuilt(example)))
    check_close("the generated model.py", difference)
    source, weights = out / "model.py", out / "weights.pt"
    atomic_write_bytes(source, text.encode(), "the model source")
    atomic_torch_save(weights, state, "the weights")
    return [source, weights], difference, None


def write_torchscript(model: nn.Module, example: torch.Tensor, out: Path,
                      script_first: bool = False) -> tuple[list[Path], float, str]:
    """``model.ts.pt`` for ``torch.jit.load`` alone; returns the files, the checked difference and the method.

    ``torch.jit.trace`` records the operations the example runs, which is the
    network for any input of that shape unless its forward branches on tensor
    values; ``script_first`` (the ``pt`` fallback, taken for such networks)
    tries ``torch.jit.script``, which keeps the branches, before tracing.
    """
    path = out / "model.ts.pt"
    scripted, method = None, "torch.jit.trace"
    if script_first:
        try:
            scripted, method = _quiet(lambda: torch.jit.script(model)), "torch.jit.script"
        except Exception:  # most search-space code is not TorchScript: trace it
            scripted = None
    if scripted is None:
        try:
            scripted = _quiet(lambda: torch.jit.trace(model, example, check_trace=False))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise NasplugError(f"torch.jit.trace failed on the network ({type(exc).__name__}: {first})") from exc
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".model.ts.pt.tmp"
    _quiet(lambda: torch.jit.save(scripted, str(tmp)))
    tmp.replace(path)
    loaded = _quiet(lambda: torch.jit.load(str(path)))
    with torch.no_grad():
        difference = max_difference(outputs(model(example)), outputs(loaded(example)))
    check_close("the TorchScript file", difference)
    return [path], difference, method


def require_onnx() -> tuple[Any, Any]:
    """The ``onnx`` and ``onnxruntime`` modules, or a ConfigError with the pip command."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(f"{ONNX_HINT} (missing: {exc.name or exc})") from None
    return onnx, onnxruntime


def write_onnx(model: nn.Module, example: torch.Tensor, out: Path, opset: int | None = None) -> tuple[list[Path], float]:
    """``model.onnx`` via ``torch.onnx.export`` (batch axis dynamic), checked with ONNX Runtime."""
    onnx, onnxruntime = require_onnx()
    path = out / "model.onnx"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".model.onnx.tmp"
    with torch.no_grad():
        expected = outputs(model(example))
    names = ["logits"] if len(expected) == 1 else [f"output{i}" for i in range(len(expected))]
    options = {"input_names": ["input"], "output_names": names,
               "dynamic_axes": {"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}}
    if opset is not None:
        options["opset_version"] = opset
    try:  # the TorchScript-based exporter needs no onnxscript; torch 2.14 still ships it
        _quiet(lambda: torch.onnx.export(model, (example,), str(tmp), dynamo=False, **options))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NasplugError(f"torch.onnx.export failed on the network ({type(exc).__name__}: {first})") from exc
    onnx.checker.check_model(str(tmp))
    tmp.replace(path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.cpu().numpy()})
    difference = max_difference(expected, [torch.from_numpy(g) for g in got])
    check_close("the ONNX file under ONNX Runtime", difference)
    return [path], difference
