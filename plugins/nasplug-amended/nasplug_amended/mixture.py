"""The ``mixture`` sampler: DARTS's continuous relaxation, defined and registered by the kernel
(:mod:`nasplug.strategies.mixture`, ``nasplug:mixture``) so that every DARTS-style plugin can name it;
re-exported here for code that imported it from this package."""

from nasplug.strategies.mixture import MixtureSampler

__all__ = ["MixtureSampler"]
