"""Progress of a long phase (a search epoch, a retraining epoch, measuring a latency table), with rate and ETA.

Every phase reports through :func:`progress`, which picks one of three forms:

* a tqdm bar, when stderr is a terminal and tqdm is installed
  (``pip install "nasplug[progress]"``);
* a plain one-line bar redrawn in place, when stderr is a terminal without tqdm;
* periodic ``logging`` lines otherwise (a log file, CI, a notebook): one
  every ``every_seconds`` and one at each tenth of the phase, each with the
  rate and the time left, at most one per ``min_seconds`` so short phases
  stay quiet.

Nothing is shown unless the phase's logger is enabled for INFO, so a
library user who has not configured logging sees nothing, and ``--quiet``
silences the bars with the lines.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from typing import Any, Callable, TextIO

logger = logging.getLogger(__name__)

# the periodic lines' pace (module-wide so a service, or a test, can change it for every phase)
EVERY_SECONDS = 30.0
MIN_SECONDS = 5.0


def format_seconds(seconds: float) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(done: float, elapsed: float, unit: str) -> str:
    if elapsed <= 0 or done <= 0:
        return f"? {unit}/s"
    rate = done / elapsed
    return f"{rate:.2f} {unit}/s" if rate >= 1 else f"{1 / rate:.2f} s/{unit}"


class Progress:
    """Counts the work of one phase and reports it; use :func:`progress` to make one."""

    def __init__(self, total: int, desc: str, unit: str = "step", log: logging.Logger | None = None,
                 mode: str = "lines", stream: TextIO | None = None, every_seconds: float | None = None,
                 min_seconds: float | None = None, clock: Callable[[], float] = time.monotonic, warmup: int = 0):
        """``warmup`` units (a compiled model's first step) are left out of the rate and the time left: they
        stand for a one-off cost, not for the steps to come."""
        self.total, self.desc, self.unit = max(0, int(total)), desc, unit
        self.warmup = max(0, int(warmup))
        self._rate_from: tuple[float, int] | None = None  # (time, units done) where the measured rate starts
        self.log = log or logger
        self.mode = mode
        self.stream = stream or sys.stderr
        self.every_seconds = EVERY_SECONDS if every_seconds is None else every_seconds
        self.min_seconds = MIN_SECONDS if min_seconds is None else min_seconds
        self.clock = clock
        self.done = 0
        self.postfix: dict[str, Any] = {}
        self.started = self.last_line = clock()
        self.next_tenth = 1
        self._bar = None
        if mode == "tqdm":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False, file=self.stream,
                             dynamic_ncols=True)

    def update(self, n: int = 1, **postfix: float) -> None:
        """``n`` more units done; ``postfix`` (a running loss, say) is shown beside the count."""
        self.done += n
        if self._rate_from is None and self.warmup and self.done >= self.warmup:
            self._rate_from = (self.clock(), self.done)
        self.postfix.update(postfix)
        if self.mode == "tqdm":
            if postfix:
                self._bar.set_postfix({k: _short(v) for k, v in self.postfix.items()}, refresh=False)
            self._bar.update(n)
        elif self.mode == "plain":
            self.stream.write("\r" + self.line(bar=True))
            self.stream.flush()
        elif self.mode == "lines":
            self._maybe_log()

    def _maybe_log(self) -> None:
        now = self.clock()
        tenth_passed = self.total > 0 and self.done * 10 >= self.next_tenth * self.total
        if tenth_passed:
            self.next_tenth = self.done * 10 // self.total + 1
        due = now - self.last_line >= self.every_seconds or tenth_passed
        if due and now - self.last_line >= self.min_seconds and self.done < self.total:
            self.last_line = now
            self.log.info(self.line())

    def line(self, bar: bool = False) -> str:
        """``desc 40/100 (40%) [####......] 2.50 step/s, 0:24 left | loss 1.234``"""
        elapsed = self.clock() - self.started
        parts = [self.desc, f"{self.done}/{self.total}" if self.total else str(self.done)]
        if self.total:
            parts.append(f"({100 * self.done // self.total}%)")
            if bar:
                filled = 20 * self.done // self.total
                parts.append(f"[{'#' * filled}{'.' * (20 - filled)}]")
        done, seconds = self.done, elapsed
        if self.warmup:  # the rate of the units after the warm-up only
            start, base = self._rate_from or (self.clock(), self.done)
            done, seconds = self.done - base, self.clock() - start
        if not done:
            text = " ".join(parts) + (" (warming up)" if self.warmup else f" {format_rate(0, seconds, self.unit)}")
            return text + (" | " + " ".join(f"{k} {_short(v)}" for k, v in self.postfix.items()) if self.postfix else "")
        text = " ".join(parts) + f" {format_rate(done, seconds, self.unit)}"
        if self.total:
            text += f", {format_seconds(seconds / done * (self.total - self.done))} left"
        if self.postfix:
            text += " | " + " ".join(f"{k} {_short(v)}" for k, v in self.postfix.items())
        return text

    def close(self) -> None:
        if self.mode == "tqdm" and self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "plain":
            self.stream.write("\r\033[K")
            self.stream.flush()
        self.mode = "closed"

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def tqdm_available() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def choose_mode(log: logging.Logger, stream: TextIO, enabled: bool = True) -> str:
    """``off``, ``tqdm``, ``plain`` or ``lines`` for this logger and stream (see the module docstring)."""
    if not enabled or not log.isEnabledFor(logging.INFO):
        return "off"
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal:
        return "lines"
    return "tqdm" if tqdm_available() else "plain"


def progress(total: int, desc: str, unit: str = "step", log: logging.Logger | None = None,
             enabled: bool = True, **options: Any) -> Progress:
    """A :class:`Progress` in the form that suits where stderr goes; ``enabled=False`` reports nothing."""
    log = log or logger
    stream = options.pop("stream", None) or sys.stderr
    return Progress(total, desc, unit, log, choose_mode(log, stream, enabled), stream, **options)
