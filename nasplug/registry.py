"""Registries: component names mapped to factories, built from the plugins' hooks.

Usage mirrors torchvision's ``get_model``/``list_models``::

    from nasplug import registry
    space = registry.get("space", "nb201", C=16, N=5)
    registry.names("sampler")  # ['gumbel', 'mixture', 'uniform', ...]

Each hook implementation is called separately so that a name can be traced to
the plugin that provides it and a hook that raises is reported against its
plugin.  A short name claimed by two plugins stays usable through its
qualified forms (``nasplug-gdas:gumbel``); asking for the bare short name is
the one error, and it names both qualified forms.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from typing import Any, Callable, Iterable

import attrs

from nasplug.errors import AmbiguousComponentError, ConfigError, NasplugError, PluginLoadError, UnknownComponentError
from nasplug.first_party import providers_of
from nasplug.plugins import LoadedPlugins, load_plugins

#: separates a distribution from a component name: ``nasplug-gdas:gumbel``
QUALIFIER = ":"

#: the provider recorded for a space named by import path rather than registered by a plugin
IMPORT_PATH_PLUGIN = "import-path"

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
    "proxy": ("nasplug_proxies", "proxy"),
}


def canonical(distribution: str) -> str:
    """A distribution name as PEP 503 compares them (``nasplug_gdas`` is ``nasplug-gdas``)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def split_qualified(name: str) -> tuple[str | None, str]:
    """``"nasplug-gdas:gumbel"`` -> ``("nasplug-gdas", "gumbel")``; a short name -> ``(None, name)``."""
    distribution, sep, short = name.partition(QUALIFIER)
    return (distribution, short) if sep else (None, name)


@attrs.frozen
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str

    @property
    def qualified(self) -> str:
        """``distribution:name``, the form that stays unique when another plugin reuses the short name."""
        return f"{self.plugin}{QUALIFIER}{self.name}"


class Registry:
    """Every component of every loaded plugin, by kind and name.

    A name may be asked for short (``gumbel``) or qualified by the
    distribution that provides it (``nasplug-gdas:gumbel``).  When two
    plugins register the same short name both stay usable by their
    qualified names; only the short name is refused, as ambiguous.
    """

    def __init__(self, loaded: LoadedPlugins):
        self.loaded = loaded
        self.errors: list[Exception] = list(loaded.errors)
        self._entries: dict[str, dict[str, list[Entry]]] = {kind: {} for kind in KINDS}
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
                    entry = Entry(kind, str(name), factory, plugin)
                    self._entries[kind].setdefault(entry.name, []).append(entry)

    def _plugin_label(self, plugin_name: str) -> str:
        info = self.loaded.plugins.get(plugin_name)
        return info.distribution if info else plugin_name

    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise UnknownComponentError("component kind", kind, {k: "nasplug" for k in KINDS})

    def clashes(self) -> list[AmbiguousComponentError]:
        """Every short name registered by more than one plugin (each usable by its qualified names)."""
        return [AmbiguousComponentError(KINDS[kind][1], name, [e.plugin for e in found])
                for kind in KINDS for name, found in sorted(self._entries[kind].items()) if len(found) > 1]

    def is_ambiguous(self, kind: str, name: str) -> bool:
        return len(self._entries[kind].get(name, ())) > 1

    def names(self, kind: str) -> list[str]:
        """Sorted names of the components of ``kind``: short where unique, qualified where two plugins share one."""
        return sorted(self._shortest(e) for e in self.entries(kind))

    def shortest_name(self, kind: str, name: str) -> str:
        """The shortest name that means the same component as ``name`` (short or qualified): the short name,
        or the qualified one where another plugin registers the same short name.  What a command printed
        for the user to copy should say."""
        return self._shortest(self.entry(kind, name))

    def _shortest(self, entry: Entry) -> str:
        return entry.qualified if self.is_ambiguous(entry.kind, entry.name) else entry.name

    def entries(self, kind: str) -> list[Entry]:
        """Every component of ``kind``, ambiguous short names included."""
        self._check_kind(kind)
        return sorted((e for found in self._entries[kind].values() for e in found), key=lambda e: e.qualified)

    def entry(self, kind: str, name: str) -> Entry:
        """The component ``name`` (short or ``distribution:name``) of ``kind``."""
        self._check_kind(kind)
        distribution, short = split_qualified(name)
        found = self._entries[kind].get(short, [])
        if distribution is not None:
            found = [e for e in found if canonical(e.plugin) == canonical(distribution)]
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousComponentError(KINDS[kind][1], name, [e.plugin for e in found])
        try:
            imported = self._import_path_entry(kind, name)
        except ConfigError as exc:  # neither a registered name nor an importable path: say both
            imported, import_hint = None, [str(exc)]
        else:
            import_hint = []
        if imported is not None:
            return imported
        known = {self._shortest(e): e.plugin for e in self.entries(kind)}
        raise UnknownComponentError(KINDS[kind][1], name, known,
                                    self._unknown_hints(kind, distribution, short) + import_hint)

    def _import_path_entry(self, kind: str, name: str) -> Entry | None:
        """A space named by import path (``--space mypkg.models:make_space``): a function or class of the
        user's own returning a SearchSpace, found without a plugin.  Its qualified form
        (``import-path:mypkg.models:make_space``) resolves the same way."""
        from nasplug import import_path

        if kind != "space":
            return None
        if name.startswith(IMPORT_PATH_PLUGIN + QUALIFIER):
            name = name[len(IMPORT_PATH_PLUGIN + QUALIFIER):]
        if not import_path.looks_like_import_path(name):
            return None
        return Entry(kind, name, _space_factory(name, import_path.resolve(name)), IMPORT_PATH_PLUGIN)

    def knows(self, kind: str, name: str) -> bool:
        """Whether ``name`` (short or qualified) names a component of ``kind``, ambiguous short names included."""
        try:
            self.entry(kind, name)
        except AmbiguousComponentError:
            return True
        except UnknownComponentError:
            return False
        return True

    def _unknown_hints(self, kind: str, distribution: str | None, short: str) -> list[str]:
        """Why a name may be missing: the first-party package that has it, plugins that failed to load."""
        failed = {canonical(e.plugin): e for e in self.errors if isinstance(e, PluginLoadError)}
        hints = []
        providers = providers_of(kind, short)
        if distribution is not None:
            providers = [p for p in providers if canonical(p) == canonical(distribution)]
        for provider in providers:
            if canonical(provider) in failed:
                hints.append(f"{short} is in {provider}, which is installed but failed to load: "
                             f"{failed.pop(canonical(provider))}")
            elif canonical(provider) not in {canonical(p.distribution) for p in self.loaded.plugins.values()}:
                hints.append(f"{short} is in {provider}: pip install {provider}")
        if failed:
            hints.append("plugins that failed to load may provide it: "
                         + "; ".join(str(e) for e in failed.values()) + " (see `nasplug plugins`)")
        return hints

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
            names = [e.name for e in self.entries(kind) if e.plugin == plugin]
            if names:
                out[kind] = sorted(names)
        return out


def _space_factory(name: str, target: Callable[..., Any]) -> Callable[..., Any]:
    """``target`` (a function or class named by import path), refusing a product that is not a search space.
    It keeps ``target``'s signature, so options are checked against it as for a plugin's factory."""
    if not callable(target):
        raise ConfigError(f"import path {name!r} names a {type(target).__name__}, not a function or class that "
                          "returns a search space")

    @functools.wraps(target)
    def build(*args: Any, **kwargs: Any) -> Any:
        from nasplug.spaces.base import SearchSpace

        space = target(*args, **kwargs)
        if not isinstance(space, SearchSpace):
            raise ConfigError(f"space {name!r} built a {type(space).__name__}, not a SearchSpace; for a model class "
                              f"use space 'model' with the option model={name!r}")
        return space

    return build


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
