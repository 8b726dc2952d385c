"""SIGTERM and SIGINT stop a run at a consistent point instead of killing it mid-write.

Schedulers, ``docker stop`` and ``timeout`` send SIGTERM; Ctrl-C sends
SIGINT.  While :func:`stop_on_signals` is active (the CLI's search, resume
and train commands) a first signal only sets a flag; the run polls
:func:`check` between steps and raises :class:`Stopped`.  The partial epoch
is abandoned: checkpoints are taken at epoch boundaries only, and the loader
order and random streams of an epoch are functions of the seed and the epoch,
so resuming from the last boundary replays the abandoned steps exactly (a
mid-epoch checkpoint would have to restore a half-consumed loader, for no
change in the result).  A second signal acts at once (the default action);
atomic writes keep the run directory consistent even then.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Sequence

_requested: int | None = None

NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class Stopped(Exception):
    """The run stopped on a signal at ``epoch``/``step`` (0-based); the run directory is consistent."""

    def __init__(self, signum: int, epoch: int, step: int, run_dir=None):
        self.signum, self.epoch, self.step, self.run_dir = signum, epoch, step, run_dir
        where = f"nasplug resume {run_dir} continues" if run_dir is not None else "nothing was written"
        super().__init__(f"stopped at epoch {epoch + 1} step {step + 1} on {NAMES.get(signum, signum)}; {where}")

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)  # 143 for SIGTERM, 130 for SIGINT


def _handler(signum, frame) -> None:
    global _requested
    _requested = signum
    signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)


def request_stop(signum: int) -> None:
    """Ask the run to stop at its next step as if ``signum`` had arrived (from a watchdog thread, say)."""
    global _requested
    _requested = signum


def requested() -> int | None:
    return _requested


def check(epoch: int, step: int, run_dir=None) -> None:
    """Raise :class:`Stopped` if a signal arrived; call it where stopping leaves nothing half-done."""
    if _requested is not None:
        raise Stopped(_requested, epoch, step, run_dir)


def check_agreed(dist, epoch: int, step: int, run_dir=None, values: Sequence[float] = ()) -> list[float]:
    """:func:`check` for every rank of a distributed run at once (``dist``: a ``DistContext``).

    A signal may reach one rank only, or the ranks at different steps; the
    ranks all-reduce the flag (as they agree on a non-finite loss), so all of
    them stop at the same boundary instead of one waiting in a collective of
    the next step for a rank that has left.  ``values`` (a step's loss, whose
    mean the ranks agree on too) ride in the same all-reduce, so a step needs
    one collective for both; their sums over the ranks are returned.
    """
    signum = _requested
    sums = [float(v) for v in values]
    if dist.active:
        reduced = dist.sum([float(signum == s) for s in NAMES] + sums)
        seen, sums = reduced[:len(NAMES)], reduced[len(NAMES):]
        if signum is None:
            signum = next((s for s, count in zip(NAMES, seen) if count), None)
    if signum is not None:
        raise Stopped(signum, epoch, step, run_dir)
    return sums


@contextlib.contextmanager
def stop_on_signals(keep_pending: bool = False):
    """Turn SIGTERM/SIGINT into a request to stop (main thread only; elsewhere a no-op).

    ``keep_pending``: a request made before (under :func:`hold_signals`) stays.
    """
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in NAMES}
    if not keep_pending:
        _requested = None
    for s in NAMES:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _requested = None


@contextlib.contextmanager
def hold_signals():
    """While the CLI starts up (imports, plugin loading): SIGTERM and SIGINT are only recorded, as under
    :func:`stop_on_signals`, so the command stops at its first check with its one-line message
    instead of dying silently or with a traceback; a second signal acts at once.  The same handlers as
    :func:`stop_on_signals` (a request made earlier is dropped); a name of its own for where it is used."""
    with stop_on_signals():
        yield


def ignore_signals_for_exit() -> None:
    """SIGTERM and SIGINT ignored from here on (main thread only): the command's status is decided and the
    process only exits, so a signal now can only replace that status with a silent 143 or 130."""
    if threading.current_thread() is threading.main_thread():
        for s in NAMES:
            signal.signal(s, signal.SIG_IGN)
