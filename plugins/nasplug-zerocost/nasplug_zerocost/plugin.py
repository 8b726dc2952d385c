"""nasplug hooks of the zero-cost plugin: names -> factories, imported inside the hooks (loading stays cheap)."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_proxies():
    from nasplug_zerocost.proxies import PROXIES
    from nasplug_zerocost.registered import proxy_factory

    return {name: proxy_factory(function) for name, function in PROXIES.items()}


@hookimpl
def nasplug_arch_optimizers():
    from nasplug_zerocost.driven import proxy_quality, proxy_warmstart
    from nasplug_zerocost.screen import proxy_screen
    from nasplug_zerocost.search import TrainingFreeSearch

    return {"zerocost": TrainingFreeSearch, "proxy-quality": proxy_quality, "proxy-warmstart": proxy_warmstart,
            "proxy-screen": proxy_screen}


@hookimpl
def nasplug_strategies():
    from nasplug_zerocost.presets import PRESETS

    return dict(PRESETS)
