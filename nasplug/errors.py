"""Exceptions that name the bad value and what would have been allowed.

Every error a user can trigger with a typo (a component name, a config field,
a genotype string) derives from :class:`NasplugError`, so callers and the CLI
can report it in one line instead of a traceback.
"""

from __future__ import annotations


class NasplugError(Exception):
    """Base class for every error nasplug raises on purpose."""


class UnknownComponentError(NasplugError, KeyError):
    """A registry was asked for a name no installed plugin provides."""

    def __init__(self, kind: str, name: str, known: dict[str, str], hints: list[str] | tuple[str, ...] = ()):
        self.kind, self.name, self.known, self.hints = kind, name, dict(known), list(hints)
        listing = ", ".join(f"{n} ({p})" for n, p in sorted(known.items())) or "none installed"
        super().__init__("; ".join([f"unknown {kind} {name!r}; known: {listing}", *self.hints]))

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class DuplicateComponentError(NasplugError):
    """Two plugins registered the same name for the same kind of component."""

    def __init__(self, kind: str, name: str, providers: list[str]):
        self.kind, self.name, self.providers = kind, name, list(providers)
        super().__init__(
            f"{kind} {name!r} is provided by more than one plugin: {' and '.join(providers)}; "
            "uninstall one of them or ask its author to rename the component"
        )


class AmbiguousComponentError(DuplicateComponentError):
    """A short name that several plugins register was used; its qualified forms would not be."""

    def __init__(self, kind: str, name: str, providers: list[str]):
        self.kind, self.name, self.providers = kind, name, list(providers)
        self.qualified = [f"{p}:{name}" for p in self.providers]
        NasplugError.__init__(
            self, f"{kind} {name!r} is provided by more than one plugin; name the one you mean: "
                  f"{' or '.join(self.qualified)}")


class PluginLoadError(NasplugError):
    """A plugin distribution failed to import or to answer a hook."""

    def __init__(self, plugin: str, version: str | None, stage: str, cause: BaseException):
        self.plugin, self.version, self.stage, self.cause = plugin, version, stage, cause
        where = f"{plugin} {version}" if version else plugin
        super().__init__(f"plugin {where} failed while {stage}: {type(cause).__name__}: {cause}")


class ConfigError(NasplugError, ValueError):
    """A configuration value is outside what the component accepts."""


def check_choice(owner: str, name: str, value, allowed) -> None:
    """Raise a ConfigError naming ``owner``'s option, the bad value and every allowed one."""
    if value not in allowed:
        raise ConfigError(f"{owner} option {name}={value!r} is not allowed; choose one of {', '.join(allowed)}")


class GenotypeError(NasplugError, ValueError):
    """A genotype (string, JSON or choice list) does not fit its search space."""


class RunDirError(NasplugError):
    """A run directory or one of its files is missing, corrupted, locked or refused as unsafe."""
