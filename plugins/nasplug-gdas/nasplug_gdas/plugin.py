"""nasplug hooks of the GDAS plugin (factories are imported inside the hooks: loading the plugin stays cheap)."""

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_search_spaces():
    from nasplug_gdas.frc import DartsFRCSpace
    from nasplug_gdas.rnn.space import DartsRNNSpace

    return {"darts-frc": DartsFRCSpace, "darts-rnn": DartsRNNSpace}


@hookimpl
def nasplug_samplers():
    from nasplug_gdas.sampler import GumbelSampler

    return {"gumbel": GumbelSampler}


@hookimpl
def nasplug_strategies():
    from nasplug_gdas import strategy

    return {"gdas": strategy.gdas}


@hookimpl
def nasplug_genotypes():
    from nasplug_gdas import genotypes

    return {"gdas": genotypes.gdas, "gdas_frc": genotypes.gdas_frc}


@hookimpl
def nasplug_cli_commands():
    from nasplug.cli_commands import CliCommand
    from nasplug_gdas.rnn import command

    return {"rnn-search": CliCommand(command.HELP, command.add_arguments, command.run)}
