"""The ``tunas`` strategy preset: the paper's components and settings under one name."""

from __future__ import annotations

from nasplug.search.spec import StrategySpec

#: SearchConfig fields TuNAS sets (the user's values still win).
TUNAS_DEFAULTS = {
    # zero-initialised logits: the policy starts exactly uniform (notes: controller.py)
    "arch_init_std": 0.0,
    # the validation batch that scores Q is 4x the training batch (notes: step)
    "batch_size": 32,
    "valid_batch_size": 128,
    # controller base learning rate.  The official code uses 3e-4 x batch/256 over
    # ~30k steps; a CPU search of a few hundred steps needs a larger one (README)
    "arch_lr": 0.06,
    "epochs": 40,
    "w_lr": 0.05,
    # score the derived architecture on 2 validation batches per epoch, not the whole split
    "eval_batches": 2,
}


def tunas_spec() -> StrategySpec:
    return StrategySpec(
        sampler="nasplug-tunas:categorical",
        arch_optimizer="nasplug-tunas:reinforce",
        description="TuNAS (Bender et al. 2020): REINFORCE over independent categoricals with aggressively "
                    "shared weights, op/filter warmup, RL delay then x10 lr, absolute latency reward",
        defaults=dict(TUNAS_DEFAULTS),
        reward="nasplug-tunas:absolute",
        latency_model="nasplug-tunas:lookup",
        # TuNAS: each core samples its own architecture; the REINFORCE update averages their terms
        rank_sampling="per-rank",
    )


def tunas_accuracy_spec() -> StrategySpec:
    """TuNAS's search with the quality signal alone: no latency term, no target needed.

    The same controller, warmups, schedules and settings as ``tunas``; the
    reward is Q (the validation accuracy of the sampled architecture with the
    shared weights), which is what REINFORCE optimises when a run has no
    reward.  For comparing search quality with the other weight-sharing
    strategies (``benchmarks/nb201_search.py``), where ``tunas`` itself, whose
    reward needs a latency target, is refused without one.
    """
    return StrategySpec(
        sampler="nasplug-tunas:categorical",
        arch_optimizer="nasplug-tunas:reinforce",
        description="TuNAS (Bender et al. 2020) without a latency term: REINFORCE on the shared-weight "
                    "accuracy, op/filter warmup, RL delay then x10 lr",
        defaults=dict(TUNAS_DEFAULTS),
    )
