"""Finding plugins: entry points in the ``nasplug`` group, loaded one by one.

We do not use ``PluginManager.load_setuptools_entrypoints``: an import error
escaping from it does not say which distribution broke.  Here each entry point
is imported and registered inside its own ``try``; a failure becomes a
:class:`~nasplug.errors.PluginLoadError` carrying the distribution's name and
version, and every other plugin still loads.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
from typing import Iterable

import attrs
import pluggy

from nasplug import hookspecs
from nasplug.errors import PluginLoadError

ENTRY_POINT_GROUP = "nasplug"
KERNEL_PLUGIN = "nasplug"


@attrs.frozen
class PluginInfo:
    """One loaded plugin: who ships it and which module holds its hooks."""

    name: str
    distribution: str
    version: str | None
    module: str


@attrs.define
class LoadedPlugins:
    """The plugin manager plus what was loaded and what failed to load."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = attrs.field(factory=dict)
    errors: list[PluginLoadError] = attrs.field(factory=list)


def _kernel_version() -> str | None:
    try:
        return metadata.version("nasplug")
    except metadata.PackageNotFoundError:
        return None


def _register(loaded: LoadedPlugins, module: object, info: PluginInfo) -> None:
    """Register one plugin module, undoing it if its hooks do not match the specs."""
    manager = loaded.manager
    try:
        manager.register(module, name=info.name)
        manager.check_pending()
    except Exception as exc:  # pluggy raises PluginValidationError and ValueError
        if manager.is_registered(module):
            manager.unregister(module)
        loaded.errors.append(PluginLoadError(info.distribution, info.version, "registering its hooks", exc))
        return
    loaded.plugins[info.name] = info


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(extra_modules: Iterable[object] = (), entry_points: bool = True) -> LoadedPlugins:
    """Build a plugin manager with the kernel, every installed plugin and ``extra_modules``.

    ``extra_modules`` lets tests and notebooks register a hook module without
    installing a distribution (the way pytest's ``-p`` does).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)

    from nasplug import builtin

    _register(loaded, builtin, PluginInfo(KERNEL_PLUGIN, "nasplug", _kernel_version(), builtin.__name__))

    if entry_points:
        seen_modules: set[str] = set()
        for ep in sorted(_entry_points(), key=lambda e: (e.dist.name if e.dist else "", e.name)):
            dist_name = ep.dist.name if ep.dist else ep.name
            version = ep.dist.version if ep.dist else None
            if ep.value in seen_modules:  # the same distribution found twice on sys.path
                continue
            seen_modules.add(ep.value)
            try:
                module = ep.load()
            except Exception as exc:
                loaded.errors.append(PluginLoadError(dist_name, version, f"importing {ep.value}", exc))
                continue
            name = ep.name if ep.name not in loaded.plugins else f"{dist_name}:{ep.name}"
            _register(loaded, module, PluginInfo(name, dist_name, version, getattr(module, "__name__", ep.value)))

    for index, module in enumerate(extra_modules):
        if isinstance(module, str):
            module = importlib.import_module(module)
        name = getattr(module, "__name__", f"extra-{index}")
        _register(loaded, module, PluginInfo(name, name, None, name))
    return loaded


def installed_versions() -> list[str]:
    """``nasplug X.Y.Z`` and one ``DIST X.Y.Z`` line per installed plugin distribution (``--version``).

    Read from the distributions' metadata only: nothing is imported, so a
    broken plugin still shows, and the answer is instant.
    """
    from nasplug import __version__

    lines = [f"nasplug {_kernel_version() or __version__ + ' (not installed)'}"]
    seen: set[str] = set()
    for ep in sorted(_entry_points(), key=lambda e: e.dist.name if e.dist else e.name):
        name = ep.dist.name if ep.dist else ep.name
        if name in seen:
            continue
        seen.add(name)
        lines.append(f"{name} {ep.dist.version if ep.dist else '(unknown version)'}")
    return lines
