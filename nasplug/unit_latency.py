"""A per-unit latency table: every configuration of every unit of a space, timed standalone, summed per child.

TuNAS's cost model is a lookup table summed over layers: a layer's time
depends on its own choices and on the shapes it receives, never on other
layers.  A space that can be costed this way offers its units through five
methods (:data:`UNIT_PROTOCOL`): every configuration each unit can take
(``latency_units``), the units an architecture's child runs
(``layer_configs``), a configuration's table key (``unit_key``), its standalone
module (``build_unit``) and random inputs of the shapes it receives there
(``unit_inputs``).  A user's ``model_space(...)`` and the TuNAS plugin's mobile
spaces implement it.

Two latency models build such a table: the kernel's ``measured`` model (with
its own backend and statistic) and the TuNAS plugin's ``lookup`` model.  They
differ only in how one unit is timed, so the loop that builds every unit
configuration once (:func:`unit_runs`), the round-robin that times them
(:func:`round_robin`, which the measured model also uses for whole children)
and the sum over a child's units (:func:`unit_sum`) live here, once.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Hashable, Mapping

import torch

from nasplug.errors import ConfigError
from nasplug.progress import progress

#: what a space provides for a per-unit table: every unit configuration, an architecture's units, each
#: configuration's table key, its standalone child module, and random inputs of the shapes it receives
UNIT_PROTOCOL = ("latency_units", "layer_configs", "unit_key", "build_unit", "unit_inputs")
#: a key ending so is a layer the child skips (a mobile space's zero op): it costs nothing and has no entry
SKIPPED = ":skip"


def has_units(space) -> bool:
    """Whether ``space`` implements the whole unit protocol (every method, callable)."""
    return all(callable(getattr(space, method, None)) for method in UNIT_PROTOCOL)


def unit_keys(space, choices: Mapping[str, int], input_shape) -> list[str]:
    """The table keys of the units the child of ``choices`` runs (a unit run twice appears twice; skipped
    layers left out)."""
    keys = [space.unit_key(cfg) for cfg in space.layer_configs(choices, tuple(input_shape))]
    return [key for key in keys if not key.endswith(SKIPPED)]


def unit_sum(table: Mapping[str, float], space, choices: Mapping[str, int], input_shape) -> float:
    """The sum of the table's entries over the units the child of ``choices`` runs."""
    total = 0.0
    for key in unit_keys(space, choices, input_shape):
        try:
            total += table[key]
        except KeyError:
            raise ConfigError(f"the latency table has no entry {key!r}; it was measured for another space, "
                              "width or input size (re-measure it, or check the table file)") from None
    return total


def unit_runs(space, input_shape, num_classes: int, batch_size: int,
              timer: Callable[[torch.nn.Module, tuple], Callable[[], list[float]]]) -> dict[str, Callable[[], list[float]]]:
    """Table key -> a call that times that unit configuration once (``timer(module, inputs)`` makes it).

    Each distinct key is built once, by ``build_unit`` at the input shapes it
    receives in a child (``unit_inputs`` with a batch of ``batch_size``).
    """
    runs: dict[str, Callable[[], list[float]]] = {}
    for configs in space.latency_units(tuple(input_shape)).values():
        for cfg in configs:
            key = space.unit_key(cfg)
            if key not in runs:
                runs[key] = timer(space.build_unit(cfg, num_classes), space.unit_inputs(cfg, batch_size))
    return runs


def round_robin(runs: Mapping[Hashable, Callable[[], list[float]]], rounds: int, threads: int, what: str, item: str,
                log: logging.Logger) -> dict[Hashable, list[float]]:
    """Each run's samples over ``rounds`` passes through all of them, with ``threads`` torch threads.

    Passing over every entry once per round (rather than timing each entry
    ``rounds`` times in a row) means a change in machine load while measuring
    shifts all entries alike instead of a few of them.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    samples: dict[Any, list[float]] = {key: [] for key in runs}
    try:
        with progress(rounds * len(runs), what, item, log=log) as bar:
            for _ in range(rounds):
                for key, run in runs.items():
                    samples[key] += run()
                    bar.update(1)
    finally:
        torch.set_num_threads(previous)
    return samples
