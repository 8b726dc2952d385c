"""What ``nasplug plugins`` reports: each plugin, what it provides, name clashes and load errors.

One JSON schema for every load error, whatever failed (importing the
module, registering its hooks, answering a hook)::

    {"distribution": "nasplug-x", "version": "1.0", "stage": "importing nasplug_x.plugin",
     "exception": "ImportError", "message": "plugin nasplug-x 1.0 failed while ..."}

A short name two plugins register is a *clash*, not an error: both stay
usable by their qualified names, which the listing shows.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from nasplug.errors import PluginLoadError
from nasplug.registry import KINDS, Registry
from nasplug.search.spec import StrategySpec


def error_record(error: Exception) -> dict[str, Any]:
    """One load error in the shared schema."""
    if isinstance(error, PluginLoadError):
        return {"distribution": error.plugin, "version": error.version, "stage": error.stage,
                "exception": type(error.cause).__name__, "message": str(error)}
    return {"distribution": None, "version": None, "stage": None, "exception": type(error).__name__,
            "message": str(error)}


def describe_factory(factory: Callable[..., Any]) -> dict[str, str]:
    """The factory's call signature and the first line of its docstring (a preset: its description)."""
    if isinstance(factory, StrategySpec):
        return {"signature": "", "doc": first_line(factory.description)}
    try:
        signature = str(inspect.signature(factory)).removesuffix(" -> None")
    except (TypeError, ValueError):
        signature = "(...)"
    doc = inspect.getdoc(factory) or ""
    if not doc and callable(factory):
        try:  # a preset function: describe the StrategySpec it returns
            product = factory()
            if isinstance(product, StrategySpec):
                return {"signature": "", "doc": first_line(product.description)}
        except Exception:  # noqa: BLE001 - a factory that needs options has no description to give
            pass
    return {"signature": signature, "doc": first_line(doc)}


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def listing(registry: Registry, verbose: bool = False) -> dict[str, Any]:
    """Plugins, clashes and errors as plain data (what ``nasplug plugins --json`` prints)."""
    plugins = []
    for name, info in registry.loaded.plugins.items():
        components: dict[str, list[Any]] = {}
        for kind in KINDS:
            for entry in registry.entries(kind):
                if entry.plugin != info.distribution:
                    continue
                item: dict[str, Any] = {"name": entry.name, "qualified": entry.qualified,
                                        "ambiguous": registry.is_ambiguous(kind, entry.name)}
                if verbose:
                    item.update(describe_factory(entry.factory))
                components.setdefault(kind, []).append(item)
        plugins.append({"name": name, "distribution": info.distribution, "version": info.version,
                        "module": info.module,
                        "provides": {kind: [item["name"] for item in items] for kind, items in components.items()},
                        "components": components})
    clashes = [{"kind": clash.kind, "name": clash.name, "providers": clash.providers, "qualified": clash.qualified}
               for clash in registry.clashes()]
    return {"plugins": plugins, "clashes": clashes, "errors": [error_record(e) for e in registry.errors]}


def text_lines(report: dict[str, Any], verbose: bool = False) -> list[str]:
    """The human-readable listing; an ambiguous name is starred and each clash is printed once."""
    lines = []
    for plugin in report["plugins"]:
        lines.append(f"{plugin['distribution']} {plugin['version'] or '(not installed)'}  [{plugin['module']}]")
        for kind, items in plugin["components"].items():
            if verbose:
                lines.append(f"  {kind}:")
                for item in items:
                    star = "*" if item["ambiguous"] else ""
                    doc = f"  {item['doc']}" if item["doc"] else ""
                    lines.append(f"    {item['name']}{star}{item['signature']}{doc}")
            else:
                names = [item["name"] + ("*" if item["ambiguous"] else "") for item in items]
                lines.append(f"  {kind + ':':<16} {', '.join(names)}")
    if report["clashes"]:
        lines.append("\nclashes (* above): the short name is ambiguous, each qualified name still works:")
        for clash in report["clashes"]:
            lines.append(f"  {clash['kind']} {clash['name']!r}: {' or '.join(clash['qualified'])}")
    if report["errors"]:
        lines.append("\nerrors:")
        lines.extend(f"  {error['message']}" for error in report["errors"])
    return lines
