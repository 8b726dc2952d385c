"""Search spaces shared by every strategy."""

from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet
from nasplug.spaces.darts import DartsGenotype, DartsSpace
from nasplug.spaces.nb201 import NB201Genotype, NB201Space

__all__ = ["Decision", "Genotype", "SearchSpace", "Supernet", "DartsGenotype", "DartsSpace", "NB201Genotype",
           "NB201Space"]
