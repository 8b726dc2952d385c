"""A run directory that loses nothing when the process is killed.

Every file is written to a temporary name in the same directory, flushed to
disk and renamed over the old one (``os.replace`` is atomic on POSIX and
Windows), so a reader or a resumed run sees either the previous complete
file or the new complete file, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from nasplug.errors import RunDirError


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a run directory is shared like any file the user writes
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def safe_torch_load(path: str | Path, map_location: Any = None) -> Any:
    """Load a torch file without ever running code from it.

    Run directories are shared, downloaded and attached to bug reports, so a
    checkpoint is untrusted input: ``weights_only=True`` makes torch's
    unpickler accept tensors and plain containers only, and a file that asks
    for anything else (a pickle whose ``__reduce__`` runs a command, say) is
    refused with a one-line error that names it.  Everything nasplug writes
    is tensors, numbers, strings, lists and dicts, so nothing is lost.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise RunDirError(f"{path}: file not found") from exc
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next((line for line in reason if "Unsupported global" in line or "GLOBAL" in line), None)
        raise RunDirError(f"{path}: refused to load: it holds objects other than tensors and plain data, and "
                          f"loading it could run code{f' ({detail.strip()})' if detail else ''}") from exc
    except Exception as exc:  # a truncated or garbled file: zip, EOF or storage errors, by torch version
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunDirError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {first})") from exc


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    text = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)
    atomic_write_bytes(path, text.encode())


def read_jsonl(path: str | Path) -> list[Any]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_run_dir(root: str | Path, label: str) -> Path:
    """A fresh directory ``root/<timestamp>-<label>`` (suffixed if it exists)."""
    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        path = root / (f"{stamp}-{label}" + (f"-{k}" if k else ""))
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run directory under {root}")


CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
GENOTYPE = "genotype.json"
RESULT = "result.json"
