"""The ``mixture`` sampler: DARTS's continuous relaxation, defined once in the kernel
(:mod:`nasplug.strategies.mixture`) and registered by this plugin."""

from nasplug.strategies.mixture import MixtureSampler

__all__ = ["MixtureSampler"]
