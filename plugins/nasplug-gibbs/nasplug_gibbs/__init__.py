"""GibbsNAS: one-shot architecture search by Gibbs sampling (Xue et al., AAAI 2021).

The weights omega and the architecture importance alpha are redrawn in turn
from Gaussian (Laplace) approximations of their conditional posteriors
(Eq. 15 and 16), whose inverse Hessians come from quasi-Newton estimates:
a full BFGS matrix for alpha (:mod:`nasplug_gibbs.bfgs`) and the diagonal of
an L-BFGS matrix for omega (:mod:`nasplug_gibbs.diag_lbfgs`).
"""

from nasplug_gibbs.bfgs import BFGSInverse
from nasplug_gibbs.diag_lbfgs import DiagonalLBFGS
from nasplug_gibbs.gaussian_step import diagonal_step, full_step, noise_variance_factor
from nasplug_gibbs.optimizer import GibbsArchOptimizer

__all__ = ["BFGSInverse", "DiagonalLBFGS", "GibbsArchOptimizer", "diagonal_step", "full_step",
           "noise_variance_factor"]
