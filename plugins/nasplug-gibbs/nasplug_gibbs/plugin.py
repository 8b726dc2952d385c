"""nasplug hooks of the GibbsNAS plugin."""

from nasplug.hookspecs import hookimpl

from nasplug_gibbs import presets


@hookimpl
def nasplug_arch_optimizers():
    return presets.arch_optimizers()


@hookimpl
def nasplug_strategies():
    return presets.strategies()
