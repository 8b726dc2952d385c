"""The kernel's components, registered through the same hooks as any plugin's.

Each hook imports its factories when called: the CLI loads every plugin to
list subcommands, and that must not import torch.
"""

from __future__ import annotations

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_search_spaces():
    from nasplug.spaces.darts import DartsSpace
    from nasplug.spaces.nb201 import NB201Space

    return {"darts": DartsSpace, "nb201": NB201Space}


@hookimpl
def nasplug_samplers():
    from nasplug.strategies.random_search import UniformSampler

    return {"uniform": UniformSampler}


@hookimpl
def nasplug_arch_optimizers():
    from nasplug.strategies.gradient import GradientArchOptimizer
    from nasplug.strategies.random_search import RandomSearch

    return {"gradient": GradientArchOptimizer, "random": RandomSearch}


@hookimpl
def nasplug_latency_models():
    from nasplug.flops_latency import FlopsLatencyModel

    return {"flops": FlopsLatencyModel}


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
            sampler="uniform",
            arch_optimizer="random",
            description="Random search with weight sharing (Li & Talwalkar 2019): uniform single-path "
                        "training, best of sampled architectures on validation",
        ),
    }
