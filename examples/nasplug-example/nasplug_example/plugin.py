"""Hook implementations: the only module nasplug imports through the entry point.

The factories are imported inside the hooks, so loading the plugin (which
``nasplug --help`` does, to list plugin commands) does not import torch.
"""

from nasplug import hookimpl


@hookimpl
def nasplug_search_spaces():
    from nasplug_example.chain_space import ChainSpace

    return {"chain": ChainSpace}


@hookimpl
def nasplug_samplers():
    from nasplug_example.epsilon_greedy import EpsilonGreedySampler

    return {"epsilon-greedy": EpsilonGreedySampler}


@hookimpl
def nasplug_rewards():
    from nasplug_example.linear_cost import LinearCostReward

    return {"linear-cost": LinearCostReward}
