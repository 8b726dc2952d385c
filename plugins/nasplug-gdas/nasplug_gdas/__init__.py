"""GDAS for nasplug: Searching for A Robust Neural Architecture in Four GPU Hours (Dong & Yang, CVPR 2019)."""

from nasplug.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DartsFRCSpace", "FixedReductionCell"), "nasplug_gdas.frc"),
    **dict.fromkeys(("GumbelSampler", "gumbel_hardwts", "linear_tau"), "nasplug_gdas.sampler"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["DartsFRCSpace", "FixedReductionCell", "GumbelSampler", "gumbel_hardwts", "linear_tau"]
