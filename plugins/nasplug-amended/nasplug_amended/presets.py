"""The strategy presets: DARTS (first and second order) and Amended-DARTS with the papers' search settings."""

from __future__ import annotations

from nasplug.search.spec import StrategySpec

#: Sec. 4.1.1 of Bi et al. (and DARTS): Adam on alpha with lr 3e-4, wd 1e-3, betas (0.5, 0.999);
#: SGD on the weights, lr 0.025 cosine-annealed to 0.001, momentum 0.9, wd 3e-4, clip 5; batch 96.
SEARCH_SETTINGS = {
    "batch_size": 96,
    "arch_lr": 3e-4,
    "arch_betas": (0.5, 0.999),
    "arch_weight_decay": 1e-3,
    "arch_init_std": 1e-3,
    "w_lr": 0.025,
    "w_lr_min": 0.001,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "grad_clip": 5.0,
}

#: The authors of NAS-Bench-201 ran DARTS (1st and 2nd order) on nb201 with
#: ``configs/nas-benchmark/algos/DARTS.config`` of D-X-Y/AutoDL-Projects: batch 64,
#: weight decay 5e-4, Nesterov momentum (lr 0.025 cosine to 0.001, momentum 0.9 and
#: 50 epochs as here), and ``scripts-search/algos/DARTS-V1.sh``/``DARTS-V2.sh``:
#: alpha Adam lr 3e-4, wd 1e-3 (betas (0.5, 0.999) in ``DARTS-V1.py``), as here.
#: Amended-DARTS has no NAS-Bench-201 code; it takes DARTS's nb201 settings so the
#: two differ only in the architecture gradient.
NB201_SETTINGS = {
    "batch_size": 64,
    "w_weight_decay": 5e-4,
    "w_nesterov": True,
}


def darts() -> StrategySpec:
    return StrategySpec(
        sampler="nasplug:mixture", arch_optimizer="nasplug-amended:darts-1st", defaults=dict(SEARCH_SETTINGS),
        space_defaults={"nb201": dict(NB201_SETTINGS)},
        description="DARTS first order (Liu et al. 2019): softmax mixture, alpha by grad of L_val at the "
                    "current weights",
    )


def darts_2nd() -> StrategySpec:
    return StrategySpec(
        sampler="nasplug:mixture", arch_optimizer="nasplug-amended:darts-2nd", defaults=dict(SEARCH_SETTINGS),
        space_defaults={"nb201": dict(NB201_SETTINGS)},
        description="DARTS second order (Liu et al. 2019): unrolled gradient, finite-difference "
                    "Hessian-vector product",
    )


def amended() -> StrategySpec:
    return StrategySpec(
        sampler="nasplug:mixture", arch_optimizer="nasplug-amended:amended", defaults=dict(SEARCH_SETTINGS),
        space_defaults={"nb201": dict(NB201_SETTINGS)},
        optimizer_options={"eta": 0.1},
        description="Amended-DARTS (Bi et al. 2019): g1 + g2' = g1 - eta * d2L/dalpha dw . H . dLval/dw "
                    "(Eq. 7), exact Hessian-vector products",
    )
