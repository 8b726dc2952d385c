"""GDAS for nasplug: Searching for A Robust Neural Architecture in Four GPU Hours (Dong & Yang, CVPR 2019)."""

from nasplug_gdas.frc import DartsFRCSpace, FixedReductionCell
from nasplug_gdas.sampler import GumbelSampler, gumbel_hardwts, linear_tau

__all__ = ["DartsFRCSpace", "FixedReductionCell", "GumbelSampler", "gumbel_hardwts", "linear_tau"]
