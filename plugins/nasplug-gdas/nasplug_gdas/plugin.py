"""nasplug hooks of the GDAS plugin."""

from nasplug.hookspecs import hookimpl

from nasplug_gdas import genotypes, strategy
from nasplug_gdas.frc import DartsFRCSpace
from nasplug_gdas.rnn.space import DartsRNNSpace
from nasplug_gdas.sampler import GumbelSampler


@hookimpl
def nasplug_search_spaces():
    return {"darts-frc": DartsFRCSpace, "darts-rnn": DartsRNNSpace}


@hookimpl
def nasplug_samplers():
    return {"gumbel": GumbelSampler}


@hookimpl
def nasplug_strategies():
    return {"gdas": strategy.gdas}


@hookimpl
def nasplug_genotypes():
    return {"gdas": genotypes.gdas, "gdas_frc": genotypes.gdas_frc}
