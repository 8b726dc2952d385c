"""nasplug hooks of the NAS-Bench-201 plugin: names -> factories, imported inside the hooks (loading stays cheap)."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_benchmarks():
    from nasplug_nb201.benchmark import NB201Benchmark

    return {"nb201": NB201Benchmark}


@hookimpl
def nasplug_latency_models():
    from nasplug_nb201.latency import TableLatencyModel

    return {"nb201-table": TableLatencyModel}


@hookimpl
def nasplug_arch_optimizers():
    from nasplug_nb201.evolution import RegularizedEvolution

    return {"rea": RegularizedEvolution}


@hookimpl
def nasplug_cli_commands():
    from nasplug.cli_commands import CliCommand
    from nasplug_nb201 import command

    return {"nb201-search": CliCommand(command.HELP, command.add_arguments, command.run)}
