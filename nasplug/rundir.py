"""A run directory that loses nothing when the process is killed.

Every file is written to a temporary name in the same directory, flushed to
disk and renamed over the old one (``os.replace`` is atomic on POSIX and
Windows), so a reader or a resumed run sees either the previous complete
file or the new complete file, never half of one.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from nasplug.errors import RunDirError
from nasplug import safe_json


def atomic_write_bytes(path: str | Path, data: bytes, what: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically; a full disk or read-only directory is a one-line error.

    ``what`` names the file's role for that error ("the checkpoint", "the
    metrics"); nothing of the previous file is lost when the write fails.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise write_error(path, what, exc) from exc
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)


def _discard(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(path: Path, what: str | None, exc: OSError) -> RunDirError:
    """One line naming the file, what was being written and why it failed (ENOSPC, EROFS, EACCES ...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return RunDirError(f"could not write {what or 'file'} {path}: {reason}; nothing already saved was lost")


def not_a_run_dir(run_dir: Path) -> RunDirError:
    """The error for a directory without ``config.json``; a sweep trial's names the runs inside it."""
    inner = [str(run_dir / sub) for sub in ("search", "train") if (run_dir / sub / CONFIG).exists()]
    hint = f"; it holds the run(s) {' and '.join(inner)} (a sweep trial: rerun the sweep to finish it)" if inner else ""
    return RunDirError(f"{run_dir} is not a nasplug run directory (no {CONFIG}){hint}")


def atomic_write_json(path: str | Path, data: Any, what: str | None = None) -> None:
    atomic_write_bytes(path, (json_text(data, indent=2) + "\n").encode(), what)


def atomic_torch_save(path: str | Path, obj: Any, what: str | None = None) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue(), what)


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by ``None`` (JSON ``null``), so strict readers accept it."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def json_text(data: Any, indent: int | None = None) -> str:
    """Strict JSON (non-finite numbers written as null), keys sorted."""
    return json.dumps(finite_json(data), indent=indent, sort_keys=True, default=str, allow_nan=False)


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


def write_jsonl(path: str | Path, rows: Iterable[Any], what: str | None = "the metrics") -> None:
    text = "".join(json_text(r) + "\n" for r in rows)
    atomic_write_bytes(path, text.encode(), what)


def append_jsonl(path: str | Path, rows: Iterable[Any], what: str | None = "the metrics") -> None:
    """Append one line per row, flushed and fsynced, so ``tail -f`` sees each line once it is safe.

    An append that fails part-way (a full disk) is cut back to the file's previous end, so the file never ends in
    a torn line; a symbolic link is not followed (a run directory's files are its own).
    """
    path = Path(path)
    text = "".join(json_text(r) + "\n" for r in rows)
    fd = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        end = os.fstat(fd).st_size
        try:
            view = memoryview(text.encode())
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, end)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise write_error(path, what, exc) from exc
    finally:
        if fd is not None:
            os.close(fd)


def sync_jsonl(path: str | Path, rows: list[Any], what: str | None = "the metrics") -> None:
    """Make ``path`` hold exactly ``rows``: truncate in place when it starts with them, else rewrite it.

    Resume uses it to cut ``metrics.jsonl`` back to the checkpoint's epoch:
    lines a killed run appended after its last checkpoint disappear, and a
    file that already matches is not written at all (a finished run can be
    resumed from a read-only copy).
    """
    path = Path(path)
    expected = "".join(json_text(r) + "\n" for r in rows).encode()
    try:
        current = path.read_bytes() if path.exists() else None
    except OSError:
        current = None
    if current == expected:
        return
    if current is not None and current.startswith(expected):
        try:
            os.truncate(path, len(expected))
            return
        except OSError as exc:
            raise write_error(path, what, exc) from exc
    atomic_write_bytes(path, expected, what)


def read_jsonl(path: str | Path, torn_tail_ok: bool = False) -> list[Any]:
    """The rows of a JSON-lines file ([] when it is missing); a bad line is an error naming file and line.

    With ``torn_tail_ok`` a last line that is cut off (no newline, not valid JSON: a writer killed by an old
    nasplug mid-append) is left out instead; resume cuts the file back to its checkpoint in any case.
    """
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot be read ({exc})") from exc
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = safe_json.loads(line, f"{path}: line {number}", RunDirError)
        except json.JSONDecodeError as exc:
            if torn_tail_ok and number == len(lines) and not text.endswith("\n"):
                break
            raise RunDirError(f"{path}: line {number} is not valid JSON ({exc.msg}); the file was damaged or "
                              "edited") from None
        if not isinstance(row, dict):
            raise RunDirError(f"{path}: line {number} is a JSON {type(row).__name__}, expected an object "
                              "with one epoch's metrics")
        rows.append(row)
    return rows


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; missing, unreadable, garbled or non-object files are one-line errors."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunDirError(f"{path}: file not found (it holds {what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot be read ({exc})") from None
    if not text.strip():
        raise RunDirError(f"{path}: the file is empty (it should hold {what})")
    try:
        data = safe_json.loads(text, str(path), RunDirError)
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the file was truncated, "
                          "damaged or edited") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: holds a JSON {type(data).__name__}, expected an object with {what}")
    return data


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
        except OSError as exc:
            raise RunDirError(f"could not create the run directory {path}: {exc.strerror or exc}") from exc
    raise RunDirError(f"could not create a run directory under {root}")


def write_json_if_changed(path: str | Path, data: Any, what: str | None = None) -> None:
    """Atomically write ``data`` unless the file already holds exactly it (read-only copies stay usable)."""
    path = Path(path)
    text = (json_text(data, indent=2) + "\n").encode()
    try:
        if path.read_bytes() == text:
            return
    except OSError:
        pass
    atomic_write_bytes(path, text, what)


CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
GENOTYPE = "genotype.json"
RESULT = "result.json"
