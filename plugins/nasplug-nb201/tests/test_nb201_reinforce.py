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


def test_best_sampled_returns_the_most_accurate_sampled_cell_within_the_tolerance(synthetic_table):
    """final="best-sampled": the best queried cell whose latency is within 5% of T0; the argmax is unchanged."""
    target = synthetic_table.latency_percentile("dev", 50)
    kw = dict(reward="absolute", reward_options={"beta": -0.5}, latency_device="dev", latency_target=target)
    run = reinforce_run(synthetic_table, 80, seed=1, lr=0.05,
                        optimizer_options={"final": "best-sampled", "final_tolerance": 0.05}, **kw)
    result = run.run()
    queried = np.asarray(run.queried)
    lat, acc = synthetic_table.latency_column("dev"), synthetic_table.accuracy_column("cifar10")
    in_band = queried[np.abs(lat[queried] / target - 1) <= 0.05]
    assert len(in_band) > 0
    assert result.final_accuracy == pytest.approx(acc[in_band].max())
    assert abs(result.final_latency / target - 1) <= 0.05
    likely = reinforce_run(synthetic_table, 80, seed=1, lr=0.05, **kw).run()
    assert likely.genotype == run.space.genotype_from_choices(run.arch.argmax())  # same policy, paper's answer


def test_best_sampled_survives_a_checkpoint_and_bad_final_rules_are_refused(synthetic_table):
    from nasplug import registry
    from nasplug.errors import ConfigError

    run = reinforce_run(synthetic_table, 30, seed=0, lr=0.05, optimizer_options={"final": "best-sampled"})
    run.run()
    fresh = registry.get("arch_optimizer", "reinforce", final="best-sampled")
    fresh.load_state_dict(run.optimizer.state_dict())
    assert fresh.best_sample == run.optimizer.best_sample and fresh.best_sample is not None
    with pytest.raises(ConfigError, match="final must be one of"):
        registry.get("arch_optimizer", "reinforce", final="best")
