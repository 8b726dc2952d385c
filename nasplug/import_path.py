"""``package.module:attribute`` strings: how a config names code of the user's own (a model, a space factory)."""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

from nasplug.errors import ConfigError

PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def looks_like_import_path(text: Any) -> bool:
    return isinstance(text, str) and PATTERN.fullmatch(text) is not None


def resolve(text: str) -> Any:
    """The object ``text`` names; a ConfigError naming what could not be found."""
    if not looks_like_import_path(text):
        raise ConfigError(f"{text!r} is not an import path; write it as package.module:attribute")
    module_name, _, attribute = text.partition(":")
    module = sys.modules.get(module_name)  # __main__, or a test module loaded without a package
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"import path {text!r}: cannot import module {module_name!r} ({exc})") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"import path {text!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return target


def import_path_of(obj: Any) -> str | None:
    """``module:qualname`` of a module-level class or function (None for a lambda, a local or an instance)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    text = f"{module}:{qualname}"
    try:
        return text if resolve(text) is obj else None
    except ConfigError:
        return None
