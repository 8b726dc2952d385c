"""nasplug hooks of the TuNAS plugin: names -> factories, nothing else."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl
from nasplug_tunas.categorical import CategoricalSampler
from nasplug_tunas.latency import LookupLatencyModel, TableFileLatencyModel
from nasplug_tunas.preset import tunas_spec
from nasplug_tunas.mobile_space import MobileNetV3LikeSpace, ProxylessEnlargedSpace, ProxylessSpace
from nasplug_tunas.reinforce import Reinforce
from nasplug_tunas.rewards import AbsoluteReward, MnasHardReward, MnasSoftReward


@hookimpl
def nasplug_samplers():
    return {"categorical": CategoricalSampler}


@hookimpl
def nasplug_arch_optimizers():
    return {"reinforce": Reinforce}


@hookimpl
def nasplug_rewards():
    return {"absolute": AbsoluteReward, "mnas-soft": MnasSoftReward, "mnas-hard": MnasHardReward}


@hookimpl
def nasplug_search_spaces():
    return {"proxylessnas": ProxylessSpace, "proxylessnas-enlarged": ProxylessEnlargedSpace,
            "mobilenetv3-like": MobileNetV3LikeSpace}


@hookimpl
def nasplug_latency_models():
    return {"lookup": LookupLatencyModel, "table-file": TableFileLatencyModel}


@hookimpl
def nasplug_strategies():
    return {"tunas": tunas_spec()}
