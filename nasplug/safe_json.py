"""JSON and TOML parsing that refuses absurd nesting with one line instead of a RecursionError.

``json`` and ``tomllib`` recurse once per level of nesting, so a file of
100,000 ``[`` (a crafted ``genotype.json``, a ``metrics.jsonl`` line, a TOML
``space_options`` table, ``--space-option C=[[[...]]]``) ends in a
``RecursionError`` traceback; a value nested a few hundred levels deep parses
but breaks the first ``json.dumps`` or ``attrs.asdict`` that meets it.  Every
reader of nasplug's JSON and TOML files parses through :func:`loads` or
:func:`loads_toml`, which turn both into the caller's one-line error naming
the source.  No config, genotype or metrics record nests deeper than a few
levels, so :data:`MAX_DEPTH` leaves a wide margin.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from nasplug.errors import ConfigError

#: the deepest nesting of lists and tables a nasplug file may hold (real files use 4 or fewer)
MAX_DEPTH = 64


def depth_error(source: str, error: type[Exception] = ConfigError) -> Exception:
    return error(f"{source}: nested more than {MAX_DEPTH} levels deep (lists or tables inside each other); "
                 "no nasplug file or option nests that deep, the data is damaged or crafted")


def check_depth(value: Any, source: str, error: type[Exception] = ConfigError) -> Any:
    """``value`` itself, after checking without recursion that it nests at most :data:`MAX_DEPTH` levels."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise depth_error(source, error)
        stack.extend((child, depth + 1) for child in children)
    return value


def loads(text: str | bytes, source: str, error: type[Exception] = ConfigError) -> Any:
    """``json.loads(text)`` with nesting limited; ``json.JSONDecodeError`` is left to the caller to word."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise depth_error(source, error) from None
    return check_depth(value, source, error)


def loads_toml(text: str, source: str, error: type[Exception] = ConfigError) -> dict[str, Any]:
    """``tomllib.loads(text)`` with nesting limited; ``tomllib.TOMLDecodeError`` is left to the caller."""
    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise depth_error(source, error) from None
    return check_depth(value, source, error)
