"""nasplug hooks of the TuNAS plugin: names -> factories, imported inside the hooks (loading stays cheap)."""

from __future__ import annotations

from nasplug.hookspecs import hookimpl


@hookimpl
def nasplug_samplers():
    from nasplug_tunas.categorical import CategoricalSampler

    return {"categorical": CategoricalSampler}


@hookimpl
def nasplug_arch_optimizers():
    from nasplug_tunas.reinforce import Reinforce

    return {"reinforce": Reinforce}


@hookimpl
def nasplug_rewards():
    from nasplug_tunas.rewards import AbsoluteReward, MnasHardReward, MnasSoftReward

    return {"absolute": AbsoluteReward, "mnas-soft": MnasSoftReward, "mnas-hard": MnasHardReward}


@hookimpl
def nasplug_search_spaces():
    from nasplug_tunas.mobile_space import MobileNetV3LikeSpace, ProxylessEnlargedSpace, ProxylessSpace

    return {"proxylessnas": ProxylessSpace, "proxylessnas-enlarged": ProxylessEnlargedSpace,
            "mobilenetv3-like": MobileNetV3LikeSpace}


@hookimpl
def nasplug_latency_models():
    from nasplug_tunas.latency import LookupLatencyModel, TableFileLatencyModel

    return {"lookup": LookupLatencyModel, "table-file": TableFileLatencyModel}


@hookimpl
def nasplug_strategies():
    from nasplug_tunas.preset import tunas_accuracy_spec, tunas_spec

    return {"tunas": tunas_spec(), "tunas-accuracy": tunas_accuracy_spec()}
