"""Where nasplug's messages go: standard ``logging``, with the console as one handler the CLI installs.

Library code (the kernel and every plugin) logs through
``logging.getLogger(__name__)`` and never prints, so a notebook or a
service routes, filters or silences it per logger and per level like any
other library's.  The kernel adds only a ``NullHandler`` to the ``nasplug``
logger (in ``nasplug/__init__.py``): with logging left unconfigured nothing
is written anywhere.  The ``nasplug`` command calls :func:`console_logging`
to show its own and its plugins' messages on stderr::

    import logging
    logging.basicConfig(level=logging.INFO)               # everything at INFO
    logging.getLogger("nasplug.search").setLevel("WARNING")  # but not the epoch lines
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator, TextIO

from nasplug.errors import ConfigError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def level_from_flags(quiet: bool = False, verbose: bool = False, log_level: str | None = None) -> int:
    """The console level the CLI's ``--quiet``/``--verbose``/``--log-level`` ask for (INFO by default)."""
    if log_level is not None:
        name = str(log_level).upper()
        if name not in LEVELS:
            raise ConfigError(f"log level {log_level!r} is not one of {', '.join(LEVELS)}")
        return getattr(logging, name)
    if quiet:
        return logging.WARNING
    if verbose:
        return logging.DEBUG
    return logging.INFO


def is_nasplug_logger(name: str) -> bool:
    """The kernel (``nasplug.*``) and plugins by the project's naming (``nasplug_gdas.*``, ``nasplug_tunas.*``...)."""
    return name == "nasplug" or name.startswith(("nasplug.", "nasplug_"))


class _ConsoleFilter(logging.Filter):
    """nasplug's messages at the chosen level; other libraries' only from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return is_nasplug_logger(record.name) or record.levelno >= logging.WARNING


class _ConsoleFormatter(logging.Formatter):
    """INFO lines as they are (they are the run's report); other levels say which they are."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno == logging.INFO:
            return message
        return f"nasplug: {record.levelname.lower()}: {message}"


@contextlib.contextmanager
def console_logging(level: int = logging.INFO, stream: TextIO | None = None) -> Iterator[logging.Handler]:
    """One stderr handler on the root logger for the length of a command, removed afterwards.

    It sits on the root logger (not on ``nasplug``) so plugins' loggers,
    which are named after their own packages, reach it too; a filter keeps
    other libraries below WARNING out.  Loggers without a level of their
    own follow the root's, lowered to ``level`` while the command runs.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(level)
    handler.addFilter(_ConsoleFilter())
    handler.setFormatter(_ConsoleFormatter("%(message)s"))
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(min(saved, level))
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
