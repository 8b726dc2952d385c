"""nasplug hooks of the NAS-Bench-201 plugin: names -> factories, nothing else."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl
from nasplug_nb201.benchmark import NB201Benchmark
from nasplug_nb201.evolution import RegularizedEvolution
from nasplug_nb201.latency import TableLatencyModel


@hookimpl
def nasplug_benchmarks():
    return {"nb201": NB201Benchmark}


@hookimpl
def nasplug_latency_models():
    return {"nb201-table": TableLatencyModel}


@hookimpl
def nasplug_arch_optimizers():
    return {"rea": RegularizedEvolution}
