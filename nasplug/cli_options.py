"""Parsing ``KEY=VALUE`` options from the command line into typed values."""

from __future__ import annotations

import json
from typing import Any, Iterable

from nasplug import safe_json
from nasplug.errors import ConfigError


def _shortened(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_value(text: str) -> Any:
    """JSON where it parses (numbers, true/false, null, lists), the plain string otherwise."""
    lowered = text.strip()
    if lowered in ("true", "True"):
        return True
    if lowered in ("false", "False"):
        return False
    if lowered in ("none", "None", "null"):
        return None
    try:
        return safe_json.loads(lowered, f"option value {_shortened(text)}")
    except json.JSONDecodeError:
        return text


def parse_options(items: Iterable[str] | None) -> dict[str, Any]:
    """``["C=8", "N=2"]`` -> ``{"C": 8, "N": 2}``; a malformed item is an error naming it."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {item!r} must look like KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out
