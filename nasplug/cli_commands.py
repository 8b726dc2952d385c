"""Subcommands that plugins add to the ``nasplug`` command (hook ``nasplug_cli_commands``).

Collected hook implementation by hook implementation, like the registry's
components: a plugin whose hook raises, whose command is malformed, or whose
command name is already taken is reported by name (``nasplug plugins``) and
every other command still works.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

import attrs

from nasplug.errors import DuplicateComponentError, PluginLoadError

if TYPE_CHECKING:  # pragma: no cover: the plugin manager sits above this contract (CONTRIBUTING's layers)
    from nasplug.plugins import LoadedPlugins


@attrs.frozen
class CliCommand:
    """One ``nasplug NAME`` subcommand: its one-line help, its flags, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]

    @classmethod
    def coerce(cls, value: Any) -> "CliCommand":
        if isinstance(value, CliCommand):
            return value
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str) \
                and callable(value[1]) and callable(value[2]):
            return cls(*value)
        raise TypeError(f"a CLI command must be a CliCommand or a tuple (help, add_arguments, run), got {value!r}")


@attrs.frozen
class PluginCommand:
    name: str
    command: CliCommand
    plugin: str


def plugin_commands(loaded: LoadedPlugins, reserved: set[str] = frozenset()) -> tuple[
        dict[str, PluginCommand], list[Exception]]:
    """Every plugin's subcommands by name, and the errors of those that could not be taken.

    ``reserved`` names (the kernel's own commands) cannot be claimed; a name
    claimed by two plugins is given to neither.
    """
    commands: dict[str, PluginCommand] = {}
    claims: dict[str, list[str]] = {}
    errors: list[Exception] = []
    for impl in loaded.manager.hook.nasplug_cli_commands.get_hookimpls():
        info = loaded.plugins.get(impl.plugin_name)
        plugin = info.distribution if info else impl.plugin_name
        version = info.version if info else None
        try:
            provided = dict(impl.function() or {})
        except Exception as exc:
            errors.append(PluginLoadError(plugin, version, "answering nasplug_cli_commands", exc))
            continue
        for name, value in provided.items():
            try:
                command = CliCommand.coerce(value)
            except TypeError as exc:
                errors.append(PluginLoadError(plugin, version, f"declaring command {name!r}", exc))
                continue
            claims.setdefault(str(name), ["nasplug"] if name in reserved else []).append(plugin)
            commands.setdefault(str(name), PluginCommand(str(name), command, plugin))
    for name, claimants in claims.items():
        if len(claimants) > 1:
            commands.pop(name, None)
            errors.append(DuplicateComponentError("command", name, claimants))
    return commands, errors
