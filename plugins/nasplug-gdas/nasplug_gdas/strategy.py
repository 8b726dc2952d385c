"""The ``gdas`` strategy preset: Algorithm 1 with the paper's settings (Sec. 4.2).

Each step: a weight step on a training batch with one Gumbel sample (SGD,
lr 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, grad clip 5), then an
architecture step on a validation batch with a fresh sample (Adam, lr 3e-4,
betas (0.5, 0.999), wd 1e-3) through the straight-through gradient.  The
first-order architecture update is the kernel's ``gradient`` optimizer; the
temperature schedule lives in the ``gumbel`` sampler, which picks its end
point per space (10 -> 1 on DARTS spaces, 10 -> 0.1 on nb201).

``epochs`` is 20 here, not the paper's 240: the preset must finish a
``--space nb201 --data digits`` search on a CPU in minutes; set
``epochs=240`` (and the paper's data) to reproduce the paper's budget.

On ``nb201`` the preset takes the authors' NAS-Bench-201 settings
(:data:`NB201_DEFAULTS`), which differ from the DARTS-space ones in two
fields; the rest of that search is the same or lives elsewhere:

* weight decay 5e-4 and Nesterov momentum: D-X-Y/AutoDL-Projects
  ``configs/nas-benchmark/algos/GDAS.config`` (``"decay": 0.0005``,
  ``"nesterov": 1``; also lr 0.025 cosine to ``eta_min`` 0.001, momentum
  0.9, batch 64, the same as here; ``"epochs": 240``);
* alpha: Adam lr 3e-4, betas (0.5, 0.999), wd 1e-3 (``GDAS.sh``:
  ``--arch_learning_rate 0.0003 --arch_weight_decay 0.001``;
  ``exps/NAS-Bench-201-algos/GDAS.py``: ``betas=(0.5, 0.999)``), as here;
  grad clip 5 on the weights (``GDAS.py`` ``clip_grad_norm_(..., 5)``);
* tau 10 -> 0.1 (``GDAS.sh`` ``--tau_max 10 --tau_min 0.1``) and the
  unselected ops' hard weights carried as scalars
  (``lib/models/cell_searchs/search_cells.py`` ``NAS201SearchCell.forward_gdas``):
  the ``gumbel`` sampler's per-space defaults;
* cell BN without affine parameters or running statistics
  (``GDAS.py``: ``"affine": False``, ``--track_running_stats``): the
  ``nb201`` space's ``affine``/``track_running_stats`` defaults;
* genotype: argmax over all five ops, ``none`` included
  (``search_model_gdas.py`` ``genotype()``): ``NB201Space.derive``.
"""

from __future__ import annotations

from nasplug.search.spec import StrategySpec

PAPER_DEFAULTS = {
    "epochs": 20,
    "batch_size": 64,
    "w_lr": 0.025,
    "w_lr_min": 0.001,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "grad_clip": 5.0,
    "arch_lr": 3e-4,
    "arch_betas": (0.5, 0.999),
    "arch_weight_decay": 1e-3,
    "arch_init_std": 1e-3,
    "train_portion": 0.5,
}

#: what the authors' NAS-Bench-201 GDAS search changes (``configs/nas-benchmark/algos/GDAS.config``)
NB201_DEFAULTS = {
    "w_weight_decay": 5e-4,
    "w_nesterov": True,
}


def gdas() -> StrategySpec:
    return StrategySpec(
        sampler="nasplug-gdas:gumbel",
        arch_optimizer="nasplug:gradient",
        description="GDAS (Dong & Yang, CVPR 2019): Gumbel-Max single-path sampling with straight-through "
                    "gradients to alpha; weight step then alpha step (Alg. 1); tau 10->1 (10->0.1 on nb201)",
        defaults=dict(PAPER_DEFAULTS),
        space_defaults={"nb201": dict(NB201_DEFAULTS)},
        optimizer_options={"arch_first": False},
    )
