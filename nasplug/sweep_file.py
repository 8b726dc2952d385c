"""Checking a whole sweep file before its first trial runs.

A sweep that fails only when its third trial starts retraining wastes two
searches; one that writes trials into the current directory (``root = ""``)
or expands 10^9 combinations one by one never finishes.  :func:`validate`
checks every top-level table of a sweep TOML file by the validator
registered for it in :data:`TABLES` and refuses unknown tables with the list
of known ones, so every mistake is a one-line :class:`ConfigError` naming
the file, the table and the value.

A module that adds a table to sweep files (a ``[tune]`` or
``[search_space]`` table, say) registers its validator with
:func:`register_table`; nothing else here needs to change.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

from nasplug.errors import ConfigError

#: the most trials one sweep may expand to: more is a typo (or a grid meant for a search algorithm)
MAX_TRIALS = 10_000
#: the most CPUs or GPUs one trial may ask Ray for
MAX_TRIAL_RESOURCES = 1024

TableValidator = Callable[[Mapping[str, Any], str], None]
#: table name -> its validator, called as ``validator(table, where)`` with ``where`` naming file and table
TABLES: dict[str, TableValidator] = {}


def register_table(name: str, validator: TableValidator) -> None:
    """Accept a ``[name]`` table in sweep files, checked by ``validator(table, where)`` (raise ConfigError)."""
    TABLES[name] = validator


def validate(data: Mapping[str, Any], path: str | Path) -> None:
    """Raise a one-line ConfigError for the first bad table, key or value of the sweep file ``path``."""
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"sweep file {str(path)!r} has unknown table(s) {unknown}; "
                          f"allowed: {', '.join(TABLES)}")
    for name, table in data.items():
        where = f"sweep file {str(path)!r}: [{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table ([{name}] followed by KEY = VALUE lines), got {table!r}")
        TABLES[name](table, where)


def check_keys(table: Mapping[str, Any], allowed: set[str] | list[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")


def check_resource(value: Any, what: str) -> float:
    """A trial's ``num_cpus``/``num_gpus``: a finite number in [0, MAX_TRIAL_RESOURCES]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_TRIAL_RESOURCES:
        raise ConfigError(f"sweep {what} must be a number in [0, {MAX_TRIAL_RESOURCES}], got {value!r}")
    return float(value)


def check_root(value: Any, where: str = "sweep root") -> Path:
    """The output folder: a non-empty path that is not an existing file."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty folder path (a string), got {value!r}")
    root = Path(value)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{where} {value!r} exists and is not a folder")
    return root


def _sweep_table(table: Mapping[str, Any], where: str) -> None:
    check_keys(table, {"root", "num_cpus", "num_gpus", "retrain"}, where)
    if "root" in table:
        check_root(table["root"], f"{where} root")
    for key in ("num_cpus", "num_gpus"):
        if key in table:
            check_resource(table[key], key)
    if "retrain" in table and not isinstance(table["retrain"], bool):
        raise ConfigError(f"{where} retrain must be true or false, got {table['retrain']!r}")


def _search_table(table: Mapping[str, Any], where: str) -> None:
    from nasplug.config import SearchConfig

    check_keys(table, [f.name for f in SearchConfig.__attrs_attrs__], where)  # values: checked per trial


def options_fields() -> list[str]:
    from nasplug.config import SearchConfig

    return [f.name for f in SearchConfig.__attrs_attrs__ if f.name.endswith("_options")]


def check_grid(axes: Mapping[str, Any], where: str = "sweep grid") -> int:
    """Check every axis of a grid and return its number of combinations, without expanding it."""
    from nasplug.config import SearchConfig

    fields = [f.name for f in SearchConfig.__attrs_attrs__]
    count = 1
    for key, values in axes.items():
        table, dot, option = str(key).partition(".")
        if dot and (table not in options_fields() or not option):
            raise ConfigError(f"{where} key {key!r}: a dotted key is <options table>.<option>, and {table!r} "
                              f"is not one of {', '.join(options_fields())}")
        if not dot and key not in fields:
            raise ConfigError(f"{where}: unknown SearchConfig field {key!r}; allowed: {', '.join(fields)} "
                              "or <options table>.<option>")
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{where} value of {key!r} must be a non-empty list, got {values!r}")
        count *= len(values)
        if count > MAX_TRIALS:
            raise ConfigError(f"{where} crosses to more than {MAX_TRIALS:,} trials "
                              f"({' x '.join(str(len(v)) if isinstance(v, (list, tuple)) else '?' for v in axes.values())}); "
                              "split it into several sweeps")
    return count


def _grid_table(table: Mapping[str, Any], where: str) -> None:
    check_grid(table, where)


def _train_table(table: Mapping[str, Any], where: str) -> None:
    from nasplug.config import TrainConfig

    try:
        TrainConfig.from_dict(table)  # every value, before the first search: a typo must not cost the searches
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


register_table("sweep", _sweep_table)
register_table("search", _search_table)
register_table("grid", _grid_table)
register_table("train", _train_table)
