"""Checkpoints that prove they are intact, with the previous one kept to fall back to.

torch's zip reader does not check its CRCs, so bytes garbled inside a
tensor load without complaint and a resumed run would train on nonsense.
Every checkpoint nasplug writes therefore carries ``"sha256"``: a digest of
its whole content (every tensor's dtype, shape and bytes, every key and plain
value, in a fixed order), recomputed on load.  The digest lives inside the
file, so one atomic rename publishes checkpoint and checksum together (a
sidecar would need two renames, and a kill between them would leave a pair
that does not match); the file stays an ordinary torch file whose keys
(``supernet``, ``epoch`` ...) read as before.

Before a new checkpoint replaces ``checkpoint.pt`` the current one is copied
to ``checkpoint.prev.pt`` (a copy renamed into place, so ``checkpoint.pt``
exists at every instant): when the newest file is damaged,
``nasplug resume DIR --from-previous`` continues from the one before.  A copy,
not a hard link: a run killed between the two renames would otherwise leave
both names on one inode, and damage written into ``checkpoint.pt`` in place
would then take the fallback with it (a drill found exactly that).  The copy
costs one more write of the checkpoint per epoch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from nasplug.errors import RunDirError
from nasplug.rundir import CHECKPOINT, PREVIOUS_CHECKPOINT, atomic_torch_save, safe_torch_load

DIGEST_KEY = "sha256"


def previous_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".prev" + path.suffix)


def _feed(h, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(f"V{type(obj).__name__}:{obj!r}".encode())


def content_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's content, leaving out the digest itself."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != DIGEST_KEY})
    return h.hexdigest()


def resume_checkpoint(run_dir: str | Path, from_previous: bool) -> Path:
    """The checkpoint a resume reads: ``checkpoint.pt``, or ``checkpoint.prev.pt`` when the user falls back to it.

    Falling back to a previous checkpoint that does not exist is a one-line error; a missing newest checkpoint
    is the caller's to judge (a run killed before its first epoch has none).
    """
    checkpoint = Path(run_dir) / (PREVIOUS_CHECKPOINT if from_previous else CHECKPOINT)
    if from_previous and not checkpoint.exists():
        raise RunDirError(f"{checkpoint}: no previous checkpoint to fall back to")
    return checkpoint


def save_checkpoint(path: str | Path, state: dict[str, Any], keep_previous: bool = True) -> None:
    """Write ``state`` with its digest atomically; the file it replaces becomes ``*.prev.pt``."""
    path = Path(path)
    state = {**state, DIGEST_KEY: content_digest(state)}
    if keep_previous and path.exists():
        prev = previous_path(path)
        tmp = prev.with_name(f".{prev.name}.copy.tmp")
        try:
            if tmp.exists():
                tmp.unlink()
            shutil.copyfile(path, tmp)
            os.replace(tmp, prev)
        except OSError as exc:
            raise RunDirError(f"could not keep the previous checkpoint as {prev}: "
                              f"{exc.strerror or exc}") from exc
    atomic_torch_save(path, state, what="the checkpoint")


def load_checkpoint(path: str | Path, map_location: Any = None, unverified_ok: bool = False) -> dict[str, Any]:
    """Load a checkpoint safely and check its digest; a mismatch is a one-line error naming the file.

    A checkpoint without a digest (written before checkpoints carried one) cannot be checked, so it is
    refused unless ``unverified_ok`` (``nasplug resume --accept-unverified``).
    """
    path = Path(path)
    state = safe_torch_load(path, map_location=map_location)
    if not isinstance(state, dict):
        raise RunDirError(f"{path}: not a nasplug checkpoint (it holds a {type(state).__name__}, not a dict)")
    stored = state.pop(DIGEST_KEY, None)
    if stored is None:
        if unverified_ok:
            return state
        raise RunDirError(f"{path}: carries no checksum (written before nasplug checkpoints had one, or edited), so "
                          "neither its integrity nor the run it belongs to can be checked; `nasplug resume "
                          f"{path.parent} --accept-unverified` resumes it anyway")
    if stored != content_digest(state):
        prev = previous_path(path)
        hint = (f"; the previous checkpoint {prev.name} is kept: `nasplug resume {path.parent} --from-previous` "
                "continues from it") if prev.exists() and path.name != prev.name else ""
        raise RunDirError(f"{path}: checksum mismatch, the file was damaged or changed after it was written{hint}")
    return state
