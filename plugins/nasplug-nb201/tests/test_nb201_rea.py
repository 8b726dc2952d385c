"""REA's population bookkeeping, mutation, and resumability; random search's query accounting."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.evolution import RandomQuerySearch, RegularizedEvolution, mutate
from nasplug_nb201.tabular import TabularRun


def hamming(a, b):
    return sum(a[k] != b[k] for k in a)


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.integers(0, 4), min_size=6, max_size=6), seed=st.integers(0, 2**31 - 1))
def test_mutation_changes_exactly_one_decision(ops, seed):
    space = NB201Space()
    parent = dict(zip(space.decision_names(), ops))
    child = mutate(space, parent, torch.Generator().manual_seed(seed))
    assert hamming(parent, child) == 1


def test_population_fills_then_ages_out_the_oldest(synthetic_table):
    rea = RegularizedEvolution(population_size=5, sample_size=2)
    run = TabularRun(synthetic_table, rea, budget=40, seed=3)
    for step in range(5):
        run.step()
        assert len(rea.population) == step + 1 == len(rea.history)
    assert list(rea.population) == rea.history  # the initial population is the first 5 queries
    for _ in range(35):
        before = list(rea.population)
        run.step()
        after = list(rea.population)
        assert len(after) == 5
        assert after[:-1] == before[1:]            # the oldest left, the rest aged by one
        assert after[-1] == rea.history[-1]        # the child is the youngest member
        assert any(hamming(after[-1][0], member[0]) == 1 for member in before)  # a one-edge mutant of one
    assert run.queries == 40
    table_best = max(q for _, q in rea.history)
    assert rea.best()[1] == table_best
    result_choices = run.space.choices_from_genotype(rea.final_genotype(run))
    assert run.quality(result_choices) == table_best


def test_tournament_picks_the_best_of_the_sample(synthetic_table):
    """With a huge sample drawn with replacement the whole population is seen: the parent is the best member."""
    rea = RegularizedEvolution(population_size=4, sample_size=400)
    run = TabularRun(synthetic_table, rea, budget=30, seed=0)
    for _ in range(4):
        run.step()
    for _ in range(26):
        best_member = max(rea.population, key=lambda m: m[1])[0]
        run.step()
        assert hamming(best_member, rea.population[-1][0]) == 1


def test_rea_beats_random_on_the_real_table(real_table):
    """Evolution must exploit: over 20 seeds of 150 queries its mean best beats random search's."""
    rs = [TabularRun(real_table, RandomQuerySearch(), 150, seed=s).run().best_accuracy for s in range(20)]
    rea = [TabularRun(real_table, RegularizedEvolution(), 150, seed=s).run().best_accuracy for s in range(20)]
    assert np.mean(rea) > np.mean(rs)


def test_resume_equals_uninterrupted(synthetic_table):
    full = TabularRun(synthetic_table, RegularizedEvolution(6, 3), budget=50, seed=5)
    for _ in range(50):
        full.step()
    first = TabularRun(synthetic_table, RegularizedEvolution(6, 3), budget=50, seed=5)
    for _ in range(20):
        first.step()
    saved = copy.deepcopy((first.optimizer.state_dict(), first.generator.get_state(), first.state.step_in_epoch))
    resumed = TabularRun(synthetic_table, RegularizedEvolution(6, 3), budget=50, seed=5)
    resumed.optimizer.load_state_dict(saved[0])
    resumed.generator.set_state(saved[1])
    resumed.state.step_in_epoch = saved[2]
    for _ in range(30):
        resumed.step()
    assert resumed.optimizer.history[20:] == full.optimizer.history[20:]
    assert list(resumed.optimizer.population) == list(full.optimizer.population)


def test_random_search_counts_and_repeats(synthetic_table):
    a = TabularRun(synthetic_table, RandomQuerySearch(), budget=25, seed=1).run()
    b = TabularRun(synthetic_table, RandomQuerySearch(), budget=25, seed=1).run()
    assert a.queries == 25 and len(a.trace) == 25
    assert np.array_equal(a.trace, b.trace)
    assert np.all(np.diff(a.trace) >= 0)
    assert a.trace[-1] == a.best_accuracy == a.final_accuracy


def test_bad_options_and_non_query_optimizers(synthetic_table):
    with pytest.raises(ConfigError, match="population_size"):
        RegularizedEvolution(population_size=0)
    with pytest.raises(ConfigError, match="exactly one"):
        TabularRun(synthetic_table, "random", budget=3).step()  # RSPS queries nothing per step


@pytest.mark.parametrize("method", ["rs", "rea", "reinforce"])
def test_nasplug_nb201_search_command_answers_as_the_api_does(nb201_dir, real_table, method, capsys):
    """``nasplug nb201-search`` (hook nasplug_cli_commands) finds what TabularRun finds with the same seed."""
    import json

    from nasplug.cli import main
    from nasplug_nb201 import RandomQuerySearch, TabularRun

    if method == "reinforce":
        pytest.importorskip("nasplug_tunas", reason="REINFORCE needs the nasplug-tunas plugin installed")
    assert main(["nb201-search", "--path", str(nb201_dir), "--method", method, "--queries", "12",
                 "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    optimizer = {"rs": RandomQuerySearch(), "rea": RegularizedEvolution(10, 3), "reinforce": "reinforce"}[method]
    extra = dict(sampler="categorical", sampler_options={"op_warmup": False, "filter_warmup": False},
                 arch_lr=0.01) if method == "reinforce" else {}
    expected = TabularRun(real_table, optimizer, 12, seed=3, **extra).run()
    assert out["queries"] == 12 and out["genotype"] == real_table.string(expected.final_index)
    assert out["best_queried_accuracy"] == pytest.approx(expected.best_accuracy)


def test_nasplug_nb201_search_command_with_a_latency_target(nb201_dir, capsys):
    pytest.importorskip("nasplug_tunas", reason="REINFORCE needs the nasplug-tunas plugin installed")
    from nasplug.cli import main

    assert main(["nb201-search", "--path", str(nb201_dir), "--method", "reinforce", "--queries", "20",
                 "--latency-device", "pixel3", "--latency-target", "10"]) == 0
    assert "pixel3 latency:" in capsys.readouterr().out
    assert main(["nb201-search", "--path", str(nb201_dir), "--method", "rea", "--latency-target", "10"]) == 2
    assert "--latency-target needs --method reinforce" in capsys.readouterr().err
