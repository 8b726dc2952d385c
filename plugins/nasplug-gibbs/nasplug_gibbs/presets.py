"""The Table 2 variants as arch optimizers and strategy presets with the paper's settings.

Table 2 of the paper crosses how omega is updated (SGD = "1st order",
sampled or mean from Eq. 15 = "2nd order") with how alpha is updated
(sampled or mean from Eq. 16).  Settings from the experiments section:
omega lr 0.1 with batch 64, alpha lr 0.1, weight and importance decay 1e-4
(sigma^-2 of the Gaussian priors).  The alpha batch of 2048 is not a default
(it does not fit small data sets); pass ``valid_batch_size`` to use it.
"""

from __future__ import annotations

from functools import partial

from nasplug.search.spec import StrategySpec

from nasplug_gibbs.optimizer import GibbsArchOptimizer

#: arch-optimizer name -> (omega mode, alpha mode, what it is)
VARIANTS = {
    "gibbs": ("sample", "sample", "GibbsNAS (2nd order): omega and alpha sampled from Eq. 15 and Eq. 16"),
    "gibbs-mean": ("mean", "mean", "GibbsNAS 2nd order, mean only: quasi-Newton updates of omega and alpha"),
    "gibbs-1st": ("sgd", "sample", "GibbsNAS (1st order): omega by SGD, alpha sampled from Eq. 16"),
    "gibbs-1st-mean": ("sgd", "mean", "GibbsNAS 1st order, mean only: omega by SGD, alpha by BFGS steps"),
    "gibbs-alpha-mean": ("sample", "mean", "Table 2 row 4: omega sampled from Eq. 15, alpha by its mean"),
}

#: the paper's settings (Experiments section)
PAPER_DEFAULTS = {
    "w_lr": 0.1,
    "batch_size": 64,
    "w_weight_decay": 1e-4,
    "arch_lr": 0.1,
    "arch_weight_decay": 1e-4,
}


def arch_optimizers() -> dict[str, object]:
    return {name: partial(GibbsArchOptimizer, omega=omega, alpha=alpha)
            for name, (omega, alpha, _) in VARIANTS.items()}


def strategies() -> dict[str, StrategySpec]:
    return {name: StrategySpec(sampler="nasplug:mixture", arch_optimizer=f"nasplug-gibbs:{name}", description=f"{text} (Xue et al. 2021)",
                               defaults=dict(PAPER_DEFAULTS))
            for name, (_, _, text) in VARIANTS.items()}
