"""Hook implementations: the only module nasplug imports through the entry point."""

from nasplug import hookimpl

from nasplug_example.chain_space import ChainSpace
from nasplug_example.epsilon_greedy import EpsilonGreedySampler
from nasplug_example.linear_cost import LinearCostReward


@hookimpl
def nasplug_search_spaces():
    return {"chain": ChainSpace}


@hookimpl
def nasplug_samplers():
    return {"epsilon-greedy": EpsilonGreedySampler}


@hookimpl
def nasplug_rewards():
    return {"linear-cost": LinearCostReward}
