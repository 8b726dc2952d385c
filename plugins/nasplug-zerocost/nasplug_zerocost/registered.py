"""Proxy factories as the registry hands them out, and looking proxies up by name."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping, Sequence

from nasplug.errors import ConfigError

from nasplug_zerocost.scoring import Proxy


def proxy_factory(function: Callable[..., float]) -> Callable[..., Proxy]:
    """A registry factory for ``function(net, batch, **options)``: called with the options, it returns the
    proxy ``(net, batch) -> float``.  Its signature lists exactly the options, so the registry refuses an
    unknown one naming those it takes."""
    parameters = list(inspect.signature(function).parameters.values())[2:]

    def factory(**options: Any) -> Proxy:
        proxy = functools.partial(function, **options) if options else function
        return functools.update_wrapper(proxy, function) if options else function

    factory.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters])
    factory.__doc__ = function.__doc__
    factory.__name__ = function.__name__
    return factory


def resolve_proxies(names: str | Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None,
                    registry=None) -> dict[str, Proxy]:
    """Registered proxies by name (``"naswot"`` or ``["naswot", "synflow"]``), each built with its options."""
    from nasplug import registry as registry_module

    registry = registry or registry_module.default_registry()
    names = [names] if isinstance(names, str) else list(names)
    if not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"proxies must be a non-empty list of proxy names, got {names!r}; "
                          f"known: {', '.join(registry.names('proxy'))}")
    options = dict(options or {})
    stray = sorted(set(options) - set(names))
    if stray:
        raise ConfigError(f"proxy_options name {', '.join(map(repr, stray))}, which is not among the proxies "
                          f"{names}")
    return {name: registry.get("proxy", name, **dict(options.get(name, {}))) for name in names}
