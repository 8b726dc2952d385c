"""Public names imported on first use, so that importing a package (or loading a plugin) stays cheap.

``nasplug --help`` loads every plugin to list its subcommands; a plugin
package that imports torch at import time makes that take seconds.  A
package's ``__init__`` lists its public names here instead of importing
them (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first access of ``name``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__
