"""The kernel's components, registered through the same hooks as any plugin's."""

from __future__ import annotations

from nasplug.data import sources
from nasplug.flops_latency import FlopsLatencyModel
from nasplug.hookspecs import hookimpl
from nasplug.search.spec import StrategySpec
from nasplug.spaces.darts import DartsSpace
from nasplug.spaces.nb201 import NB201Space
from nasplug.strategies.gradient import GradientArchOptimizer
from nasplug.strategies.mixture import MixtureSampler
from nasplug.strategies.random_search import RandomSearch, UniformSampler


@hookimpl
def nasplug_search_spaces():
    return {"darts": DartsSpace, "nb201": NB201Space}


@hookimpl
def nasplug_samplers():
    return {"uniform": UniformSampler, "mixture": MixtureSampler}


@hookimpl
def nasplug_arch_optimizers():
    return {"gradient": GradientArchOptimizer, "random": RandomSearch}


@hookimpl
def nasplug_latency_models():
    return {"flops": FlopsLatencyModel}


@hookimpl
def nasplug_datasets():
    return {
        "digits": sources.digits,
        "cifar10": lambda **kw: sources.cifar(num_classes=10, **kw),
        "cifar100": lambda **kw: sources.cifar(num_classes=100, **kw),
        "imagefolder": sources.image_folder,
        "tensors": sources.tensors,
    }


@hookimpl
def nasplug_strategies():
    return {
        "random": StrategySpec(
            sampler="nasplug:uniform",
            arch_optimizer="nasplug:random",
            description="Random search with weight sharing (Li & Talwalkar 2019): uniform single-path "
                        "training, best of sampled architectures on validation",
        ),
    }
