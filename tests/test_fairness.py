"""Strict fairness (FairNAS) for single-path samplers: the counts, one update a step, GDAS's own arch draw, resume."""

from collections import Counter

import attrs
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug import Pipeline
from nasplug.errors import ConfigError
from nasplug.search.run import SearchRun, merged_config
from nasplug.spaces.darts import DartsSpace
from nasplug.strategies.fairness import StrictFairness, check_independent_decisions, fair_paths
from nasplug.strategies.random_search import UniformSampler
from nasplug_gdas.sampler import GumbelSampler

TINY = dict(space="nb201", data="digits", space_options={"C": 4, "N": 1}, batch_size=32, steps_per_epoch=3,
            threads=1, sampler_options={"strict_fairness": True})
RSPS = dict(strategy="random", optimizer_options={"num_candidates": 6, "screen_batches": 1, "top_k": 2})


@attrs.frozen
class FakeDecision:
    name: str
    choices: tuple


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 7), min_size=1, max_size=8), seed=st.integers(0, 2**31 - 1),
       steps=st.integers(1, 12))
def test_every_choice_of_every_decision_runs_once_per_step(sizes, seed, steps):
    """m = the largest decision: its choices once each per step; a smaller one's floor(m/n) or ceil(m/n) times."""
    decisions = [FakeDecision(f"d{i}", tuple(range(n))) for i, n in enumerate(sizes)]
    m = max(sizes)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        paths = fair_paths(decisions, generator)
        assert len(paths) == m
        for decision in decisions:
            n = len(decision.choices)
            counts = Counter(path[decision.name] for path in paths)
            assert set(counts) <= set(range(n))
            assert all(m // n <= counts[c] <= -(-m // n) for c in range(n))
            if n == m:
                assert all(counts[c] == 1 for c in range(n))


def test_permutations_are_independent_and_uniform_across_decisions():
    """Each decision's k-th slot is uniform over its choices, and two decisions' slots are independent."""
    decisions = [FakeDecision("a", tuple(range(5))), FakeDecision("b", tuple(range(5)))]
    generator = torch.Generator().manual_seed(0)
    first, pairs, trials = Counter(), Counter(), 4000
    for _ in range(trials):
        path = fair_paths(decisions, generator)[0]
        first[path["a"]] += 1
        pairs[path["a"] == path["b"]] += 1
    assert all(abs(first[c] / trials - 0.2) < 0.03 for c in range(5))
    assert abs(pairs[True] / trials - 0.2) < 0.03  # coupled permutations would always (or never) agree


def _run(strategy=RSPS, **kw):
    return SearchRun(merged_config({**TINY, **strategy, "epochs": 1, **kw}))


def _spy_forward(run):
    """Record every supernet forward's single-path choices; count the optimizer's steps."""
    calls, steps = [], []
    forward = run.supernet.forward

    def recording(x, selections):
        calls.append({name: s.index for name, s in selections.items()})
        return forward(x, selections)

    run.supernet.forward = recording
    step = run.w_optimizer.step
    run.w_optimizer.step = lambda *a, **k: (steps.append(1), step(*a, **k))[1]
    return calls, steps


@pytest.mark.parametrize("strategy", [RSPS, dict(strategy="gdas")], ids=["rsps", "gdas"])
def test_a_fair_weight_step_trains_each_op_once_with_one_update(strategy):
    run = _run(strategy)
    calls, steps = _spy_forward(run)
    x, y = next(iter(run.train_loader))
    before = {n: p.detach().clone() for n, p in run.supernet.named_parameters()}
    metrics = run.optimizer.weight_step(run, x, y)
    assert len(calls) == 5 and len(steps) == 1 and set(metrics) == {"train_loss", "train_acc"}
    for decision in run.space.decisions:
        assert sorted(call[decision.name] for call in calls) == [0, 1, 2, 3, 4]
    # every parametrised op of every edge moved in the one update (single-path would leave 4 of 5 alone)
    convs = [n for n in before if ".ops." in n or "edges" in n]
    moved = [n for n in convs if not torch.equal(before[n], dict(run.supernet.named_parameters())[n])]
    assert convs and len(moved) == len(convs)


def test_gdas_arch_step_still_uses_its_own_gumbel_draw():
    run = _run(dict(strategy="gdas"))
    calls, _ = _spy_forward(run)
    train, valid = next(iter(run.train_loader)), next(iter(run.valid_loader))
    alpha = {n: p.detach().clone() for n, p in run.arch.logits.items()}
    run.optimizer.arch_step(run, train, valid)
    assert len(calls) == 1  # one Gumbel path, not the fair ones
    assert any(not torch.equal(alpha[n], p.detach()) for n, p in run.arch.logits.items())


def test_off_leaves_the_weight_step_and_the_random_stream_alone():
    plain = _run(sampler_options={})
    off = _run(sampler_options={"strict_fairness": False})
    x, y = next(iter(plain.train_loader))
    assert plain.optimizer.weight_step(plain, x, y) == off.optimizer.weight_step(off, x, y)
    assert torch.equal(plain.generator.get_state(), off.generator.get_state())
    assert StrictFairness().weight_step(plain, x, y) is None and StrictFairness().options() == {}


@pytest.mark.parametrize("sampler", [UniformSampler, GumbelSampler])
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_a_bad_option_is_named(sampler, bad):
    with pytest.raises(ConfigError, match=rf"strict_fairness must be true or false, got {bad!r}"):
        sampler(strict_fairness=bad)


def test_a_bad_option_through_the_pipeline_is_named():
    with pytest.raises(ConfigError, match="strict_fairness"):
        Pipeline(space="nb201", strategy="random", data="digits", sampler_options={"strict_fairness": "on"}).search()


def test_a_space_with_constrained_decisions_is_refused_by_name():
    with pytest.raises(ConfigError, match="strict_fairness needs a space whose decisions are independent"):
        check_independent_decisions(DartsSpace(C=4, layers=2))


class Killed(Exception):
    pass


@pytest.mark.parametrize("strategy", [RSPS, dict(strategy="gdas")], ids=["rsps", "gdas"])
def test_killed_mid_epoch_resumes_to_the_uninterrupted_run(tmp_path, strategy):
    cfg = merged_config({**TINY, **strategy, "epochs": 3, "seed": 2})
    full = SearchRun(cfg, run_dir=tmp_path / "full").run()

    def kill(run, event):
        if event == "step" and run.state.epoch == 1 and run.state.step_in_epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        SearchRun(cfg, run_dir=tmp_path / "killed", callbacks=[kill]).run()
    resumed = SearchRun.resume(tmp_path / "killed").run()
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(a["supernet"][k], b["supernet"][k]) for k in a["supernet"])
    assert torch.equal(a["generator"], b["generator"])  # the permutations' stream was checkpointed and replayed


def test_resume_refuses_a_checkpoint_of_the_other_setting(tmp_path):
    fair = UniformSampler(strict_fairness=True)
    with pytest.raises(ConfigError, match="strict_fairness"):
        UniformSampler().load_state_dict(fair.state_dict())
    with pytest.raises(ConfigError, match="strict_fairness"):
        GumbelSampler().load_state_dict(GumbelSampler(strict_fairness=True).state_dict())
    UniformSampler().load_state_dict({"op_warmup": False, "warmup_fraction": 0.25})  # a checkpoint from before
