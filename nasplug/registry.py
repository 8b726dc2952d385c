"""Registries: component names mapped to factories, built from the plugins' hooks.

Usage mirrors torchvision's ``get_model``/``list_models``::

    from nasplug import registry
    space = registry.get("space", "nb201", C=16, N=5)
    registry.names("sampler")  # ['gumbel', 'mixture', 'uniform', ...]

Each hook implementation is called separately so that a name can be traced to
the plugin that provides it, a hook that raises is reported against its
plugin, and a name claimed twice is an error that names both claimants
(raised when that name is asked for, so the rest of the registry works).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Iterable

import attrs

from nasplug.errors import (ConfigError, DuplicateComponentError, NasplugError, PluginLoadError,
                            UnknownComponentError)
from nasplug.plugins import LoadedPlugins, load_plugins

#: kind -> (hook name, human name used in messages)
KINDS: dict[str, tuple[str, str]] = {
    "space": ("nasplug_search_spaces", "search space"),
    "sampler": ("nasplug_samplers", "sampler"),
    "arch_optimizer": ("nasplug_arch_optimizers", "architecture optimizer"),
    "reward": ("nasplug_rewards", "reward"),
    "latency_model": ("nasplug_latency_models", "latency model"),
    "dataset": ("nasplug_datasets", "dataset"),
    "strategy": ("nasplug_strategies", "strategy"),
    "genotype": ("nasplug_genotypes", "named genotype"),
    "benchmark": ("nasplug_benchmarks", "benchmark"),
}


@attrs.frozen
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str


class Registry:
    """Every component of every loaded plugin, by kind and name."""

    def __init__(self, loaded: LoadedPlugins):
        self.loaded = loaded
        self.errors: list[Exception] = list(loaded.errors)
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._conflicts: dict[tuple[str, str], list[str]] = {}
        for kind, (hook_name, _) in KINDS.items():
            for impl in getattr(loaded.manager.hook, hook_name).get_hookimpls():
                plugin = self._plugin_label(impl.plugin_name)
                try:
                    provided = dict(impl.function() or {})
                except Exception as exc:
                    info = loaded.plugins.get(impl.plugin_name)
                    self.errors.append(
                        PluginLoadError(plugin, info.version if info else None, f"answering {hook_name}", exc)
                    )
                    continue
                for name, factory in provided.items():
                    self._add(Entry(kind, str(name), factory, plugin))

    def _plugin_label(self, plugin_name: str) -> str:
        info = self.loaded.plugins.get(plugin_name)
        return info.distribution if info else plugin_name

    def _add(self, entry: Entry) -> None:
        key = (entry.kind, entry.name)
        existing = self._entries[entry.kind].get(entry.name)
        if key in self._conflicts:
            self._conflicts[key].append(entry.plugin)
        elif existing is not None:
            self._conflicts[key] = [existing.plugin, entry.plugin]
            self.errors.append(DuplicateComponentError(KINDS[entry.kind][1], entry.name, self._conflicts[key]))
        else:
            self._entries[entry.kind][entry.name] = entry

    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise UnknownComponentError("component kind", kind, {k: "nasplug" for k in KINDS})

    def names(self, kind: str) -> list[str]:
        """Sorted names of the usable components of ``kind``."""
        self._check_kind(kind)
        return sorted(n for n in self._entries[kind] if (kind, n) not in self._conflicts)

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        self._check_kind(kind)
        if (kind, name) in self._conflicts:
            raise DuplicateComponentError(KINDS[kind][1], name, self._conflicts[(kind, name)])
        try:
            return self._entries[kind][name]
        except KeyError:
            known = {e.name: e.plugin for e in self.entries(kind)}
            raise UnknownComponentError(KINDS[kind][1], name, known) from None

    def factory(self, kind: str, name: str) -> Callable[..., Any]:
        return self.entry(kind, name).factory

    def get(self, kind: str, name: str, **options: Any) -> Any:
        """Build the component ``name`` of ``kind`` with ``options``.

        Options the factory does not accept are reported with the ones it does.
        """
        entry = self.entry(kind, name)
        factory = entry.factory
        if not callable(factory):
            return factory
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            try:
                signature.bind(**options)
            except TypeError:
                accepted = [p.name for p in signature.parameters.values()
                            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
                bad = sorted(set(options) - set(accepted))
                raise ConfigError(
                    f"{KINDS[kind][1]} {name!r} ({entry.plugin}) does not take option(s) {bad or sorted(options)}; "
                    f"it accepts: {', '.join(accepted) or 'no options'}"
                ) from None
        try:
            return factory(**options)
        except (NasplugError, MemoryError):
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            # a factory's own type or value check (float("abc"), an attrs validator): one line naming the part
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"{KINDS[kind][1]} {name!r} ({entry.plugin}) rejected its options {options}: "
                              f"{first}") from None

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin provides, by kind (for ``nasplug plugins``)."""
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            names = [e.name for e in self._entries[kind].values() if e.plugin == plugin]
            names += [n for (k, n), ps in self._conflicts.items() if k == kind and plugin in ps[1:]]
            if names:
                out[kind] = sorted(names)
        return out


_default: Registry | None = None
_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry of installed plugins, built on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = Registry(load_plugins())
        return _default


def reload(extra_modules: Iterable[object] = ()) -> Registry:
    """Rebuild the default registry (after installing a plugin, or to add a hook module)."""
    global _default
    with _lock:
        _default = Registry(load_plugins(extra_modules))
        return _default


def get(kind: str, name: str, **options: Any) -> Any:
    return default_registry().get(kind, name, **options)


def names(kind: str) -> list[str]:
    return default_registry().names(kind)


def factory(kind: str, name: str) -> Callable[..., Any]:
    return default_registry().factory(kind, name)
