"""The kernel's components, registered through the same hooks as any plugin's.

Each hook imports its factories when called: the CLI loads every plugin to
list subcommands, and that must not import torch.
"""

from __future__ import annotations

from nasplug.hookspecs import hookimpl

#: RSPS as the NAS-Bench-201 authors ran it (D-X-Y/AutoDL-Projects
#: ``configs/nas-benchmark/algos/RANDOM.config``: SGD lr 0.025 cosine to 0.001,
#: momentum 0.9, Nesterov, weight decay 5e-4, batch 64, 250 epochs; the lr, momentum
#: and batch are the kernel's defaults already).  Their final pick
#: (``RANDOM-NAS.py`` ``search_find_best``, ``--select_num 100``) scores 100 random
#: cells on one validation batch each; ``random`` scores 100 on two batches and
#: re-scores the best 10 on the whole validation split.
RSPS_NB201_DEFAULTS = {"w_weight_decay": 5e-4, "w_nesterov": True}


@hookimpl
def nasplug_search_spaces():
    from nasplug.nn.space import model_space
    from nasplug.spaces.darts import DartsSpace
    from nasplug.spaces.nb201 import NB201Space

    return {"darts": DartsSpace, "nb201": NB201Space, "model": model_space}


@hookimpl
def nasplug_samplers():
    from nasplug.strategies.mixture import MixtureSampler
    from nasplug.strategies.random_search import UniformSampler

    return {"uniform": UniformSampler, "mixture": MixtureSampler}


@hookimpl
def nasplug_arch_optimizers():
    from nasplug.strategies.gradient import GradientArchOptimizer
    from nasplug.strategies.random_search import RandomSearch

    return {"gradient": GradientArchOptimizer, "random": RandomSearch}


@hookimpl
def nasplug_latency_models():
    from nasplug.flops_latency import FlopsLatencyModel
    from nasplug.measured_latency import MeasuredLatencyModel

    return {"flops": FlopsLatencyModel, "measured": MeasuredLatencyModel}


@hookimpl
def nasplug_datasets():
    from nasplug.data import sources

    return {
        "digits": sources.digits,
        "cifar10": lambda **kw: sources.cifar(num_classes=10, **kw),
        "cifar100": lambda **kw: sources.cifar(num_classes=100, **kw),
        "imagefolder": sources.image_folder,
        "tensors": sources.tensors,
    }


@hookimpl
def nasplug_strategies():
    from nasplug.search.spec import StrategySpec

    return {
        "random": StrategySpec(
            sampler="nasplug:uniform",
            arch_optimizer="nasplug:random",
            description="Random search with weight sharing (Li & Talwalkar 2019): uniform single-path "
                        "training, best of sampled architectures on validation",
            space_defaults={"nb201": dict(RSPS_NB201_DEFAULTS)},
        ),
    }
