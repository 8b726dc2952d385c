"""The TuNAS controller (registry ``reinforce`` + ``categorical``) with the table as its quality signal."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nasplug_tunas", reason="REINFORCE on the table needs the nasplug-tunas plugin installed")

from nasplug_nb201.tabular import TabularRun  # noqa: E402

SAMPLER = {"op_warmup": False, "filter_warmup": False}


def reinforce_run(table, budget, seed, lr, **kw):
    return TabularRun(table, "reinforce", budget, seed=seed, sampler="categorical", sampler_options=SAMPLER,
                      arch_lr=lr, **kw)


def test_query_budget_and_determinism(synthetic_table):
    a = reinforce_run(synthetic_table, 40, seed=2, lr=0.05).run()
    b = reinforce_run(synthetic_table, 40, seed=2, lr=0.05).run()
    assert a.queries == 40 and len(a.trace) == 40
    assert np.array_equal(a.trace, b.trace) and a.genotype == b.genotype


@pytest.mark.slow
def test_policy_learns_from_the_table(real_table):
    """After 400 queries the policy's argmax cell is far better than the table's average cell."""
    finals = [reinforce_run(real_table, 400, seed=s, lr=0.05).run().final_accuracy for s in range(3)]
    assert np.mean(finals) > real_table.mean_accuracy("cifar10") + 4.0


@pytest.mark.slow
def test_latency_reward_moves_the_policy_to_the_target(real_table):
    """With the absolute reward the final cell's pixel3 latency lands near a low target T0."""
    target = real_table.latency_percentile("pixel3", 25)
    run = reinforce_run(real_table, 600, seed=0, lr=0.05, reward="absolute", reward_options={"beta": -1.0},
                        latency_device="pixel3", latency_target=target)
    result = run.run()
    assert abs(result.final_latency / target - 1) < 0.15
    unconstrained = reinforce_run(real_table, 600, seed=0, lr=0.05).run()
    assert real_table.latency_of(unconstrained.final_index, "pixel3") > target * 1.15
