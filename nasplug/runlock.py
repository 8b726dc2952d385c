"""One writer per run directory: an exclusive ``flock`` on the directory, held for the life of the process.

Two searches on the same ``--run-dir``, or ``nasplug resume`` while the
original process still runs, would interleave their checkpoints and metrics
without a word.  The lock is ``fcntl.flock`` on ``DIR/.lock``: the kernel
drops it when the process dies, however it dies, so ``kill -9`` never leaves
a stale lock behind and no PID liveness guessing is needed.  The lock is
taken on the directory itself, not on a file in it: a lock file can be
deleted while held (``rm DIR/.lock``), and a second writer would then lock a
new file of the same name; a directory cannot be unlinked while it holds the
run.  ``DIR/.lock`` holds the holder's PID only so that the error can name it.

Inside one process the lock is shared (counted): a library user who builds a
second :class:`~nasplug.search.run.SearchRun` on a directory after the first
one raised mid-run is the same writer, not a rival one.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

from nasplug.errors import RunDirError
from nasplug.rundir import new_run_dir

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
        self.created: list[Path] = []  # the directories the claim made, outermost first (see abandon)

    def acquire(self) -> "RunLock":
        import fcntl

        key = os.path.realpath(self.run_dir)
        with _guard:
            if key in _held:
                _held[key][1] += 1
                self._key = key
                return self
            try:
                fd = os.open(self.run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError as exc:
                raise RunDirError(f"cannot open the run directory {self.run_dir} to lock it: "
                                  f"{exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirError(
                        f"run directory {self.run_dir} is in use by {_holder(self.path)} (lock {self.path}); "
                        "wait for it to finish or stop it first") from None
                raise RunDirError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
            _write_pid(self.path)
            _held[key] = [fd, 1]
            self._key = key
        return self

    def release(self) -> None:
        """Drop this holder's share of the lock (the flock goes with the last one)."""
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

    def abandon(self) -> None:
        """Release, and remove the directories the claim created: a run refused before it started leaves
        nothing behind.  A directory that existed before is left as it is; a parent the claim created goes
        only when empty; nothing goes while another owner in this process still holds the lock."""
        with _guard:
            entry = _held.get(self._key) if self._key is not None else None
            if entry is not None and entry[1] == 1 and self.created:
                # everything in a directory this claim made was written by this run; removed while locked
                shutil.rmtree(self.created[-1], ignore_errors=True)
            else:
                self.created = []
        self.release()
        for path in reversed(self.created[:-1]):
            try:
                path.rmdir()
            except OSError:
                break  # not empty (or gone): someone else uses it
        self.created = []

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _write_pid(path: Path) -> None:
    """Leave the holder's PID in ``.lock`` for the messages of a refused rival (read-only: nothing to say)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError:
        return
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


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


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the ones this call made, outermost first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
            made.append(folder)
        except FileExistsError:
            pass  # made by someone else meanwhile: not this run's to remove
        except OSError as exc:
            raise RunDirError(f"could not create the run directory {path}: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise RunDirError(f"could not create the run directory {path}: it exists and is not a directory")
    return made


def claim(run_dir: str | Path | None, fresh: bool, overwrite: bool, run_files: tuple[str, ...],
           new_in: tuple[str | Path, str] | None) -> RunLock:
    """Create, lock and tidy ``run_dir`` for a writer; the returned lock is held until released.

    ``fresh`` is a new run: a directory that already holds one (``config.json``)
    is refused unless ``overwrite``, which deletes ``run_files`` first, so an
    earlier run is never lost by a typo.  A resumed run (``fresh`` false) may
    find the directory read-only, when it only has to report a finished run.
    Without ``run_dir``, a new directory ``ROOT/<time>-LABEL`` is made, ``new_in``
    giving ``(ROOT, LABEL)``.  The lock remembers the directories it made
    (:meth:`RunLock.abandon` removes them if the run is refused).
    """
    if run_dir is None:
        root, label = new_in
        made = _make_dirs(Path(root))
        run_dir = new_run_dir(root, label)
        made.append(run_dir)
    else:
        run_dir = Path(run_dir)
        made = _make_dirs(run_dir)
    lock = RunLock(run_dir)
    lock.created = made
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
        lock.abandon()
        raise
    return lock
