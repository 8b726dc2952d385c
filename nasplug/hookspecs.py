"""The hooks a nasplug plugin implements: one per kind of component.

Each hook takes no arguments and returns a mapping from a component name to a
factory (any callable: a class or a function).  The kernel calls every
implementation, attributes each name to the distribution that returned it, and
keeps the factories in :mod:`nasplug.registry`, where each is reachable by its
short name and by its qualified name ``distribution:name``.  A factory is
called with keyword arguments only (the user's options).  Before calling it
the registry binds the options to the factory's signature, so an option the
factory does not take is reported with the ones it does; a factory with
``**kwargs`` opts out of that check and must reject unknown options itself.

The kernel's own components (the ``darts`` and ``nb201`` spaces, the
``uniform`` sampler, the ``random`` strategy, the bundled datasets) are
registered through these same hooks by :mod:`nasplug.builtin`.
"""

from __future__ import annotations

from typing import Callable, Mapping

import pluggy

PROJECT = "nasplug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Factories = Mapping[str, Callable[..., object]]


@hookspec
def nasplug_search_spaces() -> Factories:
    """Search spaces: name -> factory returning a :class:`nasplug.spaces.SearchSpace`.

    Called once when the registry is built.  Factories take the space's
    options (channels, cells, ...) as keyword arguments.
    """


@hookspec
def nasplug_samplers() -> Factories:
    """Samplers: name -> factory returning a :class:`nasplug.components.Sampler`.

    A sampler turns architecture parameters into the per-decision
    :class:`~nasplug.components.Selection` used by one forward pass.
    """


@hookspec
def nasplug_arch_optimizers() -> Factories:
    """Architecture optimizers: name -> factory returning an
    :class:`nasplug.components.ArchOptimizer`, the per-step update rule."""


@hookspec
def nasplug_rewards() -> Factories:
    """Rewards: name -> factory returning a :class:`nasplug.components.Reward`,
    which combines a quality signal and a cost (latency) into one number."""


@hookspec
def nasplug_latency_models() -> Factories:
    """Latency models: name -> factory returning a
    :class:`nasplug.components.LatencyModel` that predicts an architecture's cost."""


@hookspec
def nasplug_proxies() -> Factories:
    """Training-free proxies: name -> factory returning a proxy, a callable ``(network, (x, y)) -> float``
    that scores a network at initialisation on one batch, higher meaning better (NASWOT, synflow, ...).

    Any strategy can use one as a quality signal instead of training: a search that ranks sampled
    architectures, a reward's quality term, an evolution's fitness, a warm start of architecture logits.
    A proxy must not change the network it is given and must be deterministic for a given network
    and batch.
    """


@hookspec
def nasplug_datasets() -> Factories:
    """Datasets: name -> factory returning a :class:`nasplug.data.DataBundle`.

    Factories take ``root`` (a local path, when the data lives on disk) and
    dataset-specific options.  No factory may download unless asked to.
    """


@hookspec
def nasplug_strategies() -> Factories:
    """Strategy presets: name -> a :class:`nasplug.search.StrategySpec` (or a
    callable returning one) naming the sampler and architecture optimizer a
    search uses, with the paper's default settings."""


@hookspec
def nasplug_genotypes() -> Factories:
    """Published architectures: name -> callable returning a genotype, so
    ``nasplug train gdas_frc`` trains a paper's cell by name."""


@hookspec
def nasplug_benchmarks() -> Factories:
    """Ground-truth oracles: name -> factory returning a :class:`nasplug.components.Benchmark`
    (a tabular benchmark such as NAS-Bench-201), which scores a found genotype
    without retraining.  A search with ``benchmark=NAME`` records its answers
    every epoch."""


@hookspec
def nasplug_cli_commands() -> Factories:
    """Subcommands of the ``nasplug`` command: name -> :class:`nasplug.cli_commands.CliCommand`
    (or a tuple ``(help, add_arguments, run)``).

    ``add_arguments(parser)`` adds the command's flags to its
    ``argparse`` parser; ``run(args)`` runs it and returns the exit status
    (None means 0).  ``nasplug --help`` lists every plugin's commands, so the
    plugin module and ``add_arguments`` must import nothing heavy (torch): do
    that inside ``run``.  A command that fails to load is reported by
    ``nasplug plugins``; the other commands still work.
    """
