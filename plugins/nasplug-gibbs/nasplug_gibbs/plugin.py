"""nasplug hooks of the GibbsNAS plugin (imported inside the hooks: loading stays cheap)."""

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_arch_optimizers():
    from nasplug_gibbs import presets

    return presets.arch_optimizers()


@hookimpl
def nasplug_strategies():
    from nasplug_gibbs import presets

    return presets.strategies()
