"""GibbsNAS: one-shot architecture search by Gibbs sampling (Xue et al., AAAI 2021).

The weights omega and the architecture importance alpha are redrawn in turn
from Gaussian (Laplace) approximations of their conditional posteriors
(Eq. 15 and 16), whose inverse Hessians come from quasi-Newton estimates:
a full BFGS matrix for alpha (:mod:`nasplug_gibbs.bfgs`) and the diagonal of
an L-BFGS matrix for omega (:mod:`nasplug_gibbs.diag_lbfgs`).
"""

from nasplug.lazy import lazy_exports

_EXPORTS = {
    "BFGSInverse": "nasplug_gibbs.bfgs",
    "DiagonalLBFGS": "nasplug_gibbs.diag_lbfgs",
    **dict.fromkeys(("diagonal_step", "full_step", "noise_variance_factor"), "nasplug_gibbs.gaussian_step"),
    "GibbsArchOptimizer": "nasplug_gibbs.optimizer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["BFGSInverse", "DiagonalLBFGS", "GibbsArchOptimizer", "diagonal_step", "full_step",
           "noise_variance_factor"]
