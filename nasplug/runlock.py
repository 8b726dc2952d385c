"""One writer per run directory: an exclusive ``flock`` held for the life of the process.

Two searches on the same ``--run-dir``, or ``nasplug resume`` while the
original process still runs, would interleave their checkpoints and metrics
without a word.  The lock is ``fcntl.flock`` on ``DIR/.lock``: the kernel
drops it when the process dies, however it dies, so ``kill -9`` never leaves
a stale lock behind and no PID liveness guessing is needed.  The file holds
the holder's PID only so that the error can name it.

Inside one process the lock is shared (counted): a library user who builds a
second :class:`~nasplug.search.run.SearchRun` on a directory after the first
one raised mid-run is the same writer, not a rival one.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from nasplug.errors import RunDirError

LOCK = ".lock"

_held: dict[str, list] = {}  # realpath -> [fd, count]
_guard = threading.Lock()


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


class RunLock:
    """The exclusive lock on one run directory; :meth:`release` is idempotent."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self._key: str | None = None
        self.read_only_ok = False

    def acquire(self) -> "RunLock":
        import fcntl

        key = os.path.realpath(self.path)
        with _guard:
            if key in _held:
                _held[key][1] += 1
                self._key = key
                return self
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and self.read_only_ok:
                    return self  # nobody can write a read-only directory, so there is no rival to keep out
                raise RunDirError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirError(
                        f"run directory {self.run_dir} is in use by {_holder(self.path)} (lock {self.path}); "
                        "wait for it to finish or stop it first") from None
                raise RunDirError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass  # the PID is only for messages; the flock is the lock
            _held[key] = [fd, 1]
            self._key = key
        return self

    def release(self) -> None:
        with _guard:
            if self._key is None or self._key not in _held:
                self._key = None
                return
            entry = _held[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self._key]
                os.close(entry[0])  # closing the descriptor drops the flock
            self._key = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def remove_stale_temp_files(run_dir: str | Path) -> list[Path]:
    """Delete ``.NAME.*.tmp`` files a killed writer left behind (safe: the caller holds the lock)."""
    removed = []
    for path in Path(run_dir).glob(".*.tmp"):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def claim_run_dir(run_dir: str | Path, fresh: bool, overwrite: bool = False,
                  run_files: tuple[str, ...] = ()) -> RunLock:
    """Create, lock and tidy ``run_dir`` for a writer; the returned lock is held until released.

    ``fresh`` is a new run: a directory that already holds one (``config.json``)
    is refused unless ``overwrite``, which deletes ``run_files`` first, so an
    earlier run is never lost by a typo.  A resumed run (``fresh`` false) may
    find the directory read-only, when it only has to report a finished run.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"could not create the run directory {run_dir}: {exc.strerror or exc}") from exc
    lock = RunLock(run_dir)
    lock.read_only_ok = not fresh
    lock.acquire()
    try:
        remove_stale_temp_files(run_dir)
        if fresh and (run_dir / "config.json").exists():
            if not overwrite:
                raise RunDirError(f"{run_dir} already holds a run (config.json); `nasplug resume {run_dir}` "
                                  "continues it, or pass --overwrite (overwrite=True) to replace it")
            for name in run_files:
                try:
                    (run_dir / name).unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise RunDirError(f"could not remove {run_dir / name} to overwrite the run: "
                                      f"{exc.strerror or exc}") from exc
    except BaseException:
        lock.release()
        raise
    return lock
