"""Strategy presets of the training-free searches."""

from __future__ import annotations

from nasplug.search.spec import StrategySpec

#: a training-free search needs no supernet training: one epoch of ``cells`` steps per checkpoint chunk
def _spec(description: str, proxies, cells: int, epochs: int = 10) -> StrategySpec:
    return StrategySpec(
        sampler="nasplug:uniform",
        arch_optimizer="nasplug-zerocost:zerocost",
        description=description,
        defaults={"epochs": epochs, "steps_per_epoch": -(-cells // epochs), "eval_batches": 1},
        optimizer_options={"proxies": list(proxies), "cells": cells},
    )


PRESETS = {
    "naswot": _spec("NASWOT (Mellor et al. ICML 2021): best of 100 random cells by log|K_H| at init, no training",
                    ["naswot"], 100),
    "tenas": _spec("TE-NAS ranking (Chen et al. ICLR 2021): best of 100 random cells by the rank sum of NTK "
                   "condition number and linear regions at init, no training", ["ntk", "linear_regions"], 100),
    "zerocost": _spec("Training-free vote: best of 200 random cells by the rank sum of naswot, synflow and "
                      "jacob_cov at init (Abdelfattah et al. ICLR 2021's vote), no training",
                      ["naswot", "synflow", "jacob_cov"], 200),
}
