"""Op warmup for single-path samplers (TuNAS Sec. 4.3), as the kernel's uniform sampler and GDAS use it."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug.components import ArchParameters, apply_selection, drawn_choice
from nasplug.errors import ConfigError
from nasplug.search.run import SearchRun, SearchState, merged_config
from nasplug.spaces.nb201 import NB201Space
from nasplug.strategies.op_warmup import OpWarmup, warmup_probability
from nasplug.strategies.random_search import UniformSampler
from nasplug_gdas.sampler import GumbelSampler

SPACE = NB201Space(C=4, N=1)
STEPS = 100  # progress = step / 100


def _state(step: int, seed: int = 0) -> SearchState:
    return SearchState(SPACE, torch.Generator().manual_seed(seed), epochs=1, steps_per_epoch=STEPS,
                       step_in_epoch=step)


def _arch() -> ArchParameters:
    return ArchParameters(SPACE.decisions, 1e-3, generator=torch.Generator().manual_seed(0))


SAMPLERS = {"uniform": UniformSampler, "gumbel": GumbelSampler}


@pytest.mark.parametrize("name", SAMPLERS)
def test_warmup_off_draws_exactly_what_the_sampler_drew_before(name):
    """Off (the default), the option changes nothing: same selections, same generator afterwards."""
    plain, off = SAMPLERS[name](), SAMPLERS[name](op_warmup=False)
    a_state, b_state = _state(0), _state(0)
    a, b = plain.sample(_arch(), a_state), off.sample(_arch(), b_state)
    assert {k: s.index for k, s in a.items()} == {k: s.index for k, s in b.items()}
    assert torch.equal(a_state.generator.get_state(), b_state.generator.get_state())


@pytest.mark.parametrize("name", SAMPLERS)
def test_warm_decision_runs_every_op_averaged_and_keeps_the_draw(name):
    """At the start (p = 1) every decision is the uniform mixture, and still names the choice that was drawn."""
    without = SAMPLERS[name]().sample(_arch(), _state(0, seed=5))
    warm = SAMPLERS[name](op_warmup=True).sample(_arch(), _state(0, seed=5))
    for decision, selection in warm.items():
        assert selection.index is None
        assert torch.allclose(selection.weights, torch.full((5,), 0.2))
        assert drawn_choice(selection) == without[decision].index  # the draw comes first, the warmup after
    ops = [torch.nn.Linear(3, 3) for _ in range(5)]
    x = torch.randn(2, 3)
    mixed = apply_selection(ops, x, next(iter(warm.values())))
    assert torch.allclose(mixed, sum(op(x) for op in ops) / 5, atol=1e-6)


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("step", [0, 5, 15, 24, 25, 60])
def test_share_of_widened_decisions_matches_the_schedule(name, step):
    sampler = SAMPLERS[name](op_warmup=True, warmup_fraction=0.25)
    state, arch = _state(step), _arch()
    p = warmup_probability(step / STEPS, 0.25)
    draws = 300
    widened = sum(s.index is None for _ in range(draws) for s in sampler.sample(arch, state).values())
    n = draws * len(SPACE.decisions)
    assert abs(widened - p * n) <= 5 * np.sqrt(n * p * (1 - p)) + 1e-9  # binomial(n, p): exact at p = 0 and 1
    assert sampler.metrics(state)["op_warmup_p"] == pytest.approx(p)


@settings(max_examples=60, deadline=None)
@given(progress=st.floats(0, 0.999), fraction=st.floats(0, 0.99))
def test_warmup_probability_falls_from_one_to_zero(progress, fraction):
    p = warmup_probability(progress, fraction)
    assert 0.0 <= p <= 1.0
    if fraction == 0 or progress >= fraction:
        assert p == 0.0
    else:
        assert p == pytest.approx(1 - progress / fraction)


def test_widened_decision_sends_no_gradient_to_its_alpha():
    """GDAS with warmup: a widened edge has constant weights; the edges still sampled get their gradient."""
    arch = _arch()
    sampler = GumbelSampler(op_warmup=True)
    state = _state(10)  # p = 0.6: some edges widened, some not
    selections = sampler.sample(arch, state)
    widened = {k for k, s in selections.items() if s.index is None}
    assert widened and widened != set(selections)
    scale = torch.arange(1.0, 6.0)  # a loss that depends on which op carries the weight (their sum is always 1)
    sum((s.weights * scale).sum() for s in selections.values()).backward()
    for name in selections:
        grad = arch[name].grad
        if name in widened:
            assert grad is None or torch.count_nonzero(grad) == 0
        else:
            assert torch.count_nonzero(grad) > 0


@pytest.mark.parametrize("bad, message", [({"op_warmup": "yes"}, "op_warmup must be true or false, got 'yes'"),
                                          ({"warmup_fraction": 1.5}, "warmup_fraction must be in [0, 1), got 1.5"),
                                          ({"warmup_fraction": "0.2"}, "warmup_fraction must be a number")])
@pytest.mark.parametrize("name", SAMPLERS)
def test_bad_options_are_named(name, bad, message):
    with pytest.raises(ConfigError, match=f"{name} sampler option {message}".replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        SAMPLERS[name](**bad)


@pytest.mark.parametrize("name", SAMPLERS)
def test_resume_refuses_other_warmup_options_and_accepts_old_checkpoints(name):
    written = SAMPLERS[name](op_warmup=True).state_dict()
    with pytest.raises(ConfigError, match="op_warmup"):
        SAMPLERS[name]().load_state_dict(written)
    SAMPLERS[name](op_warmup=True).load_state_dict(written)
    old = {k: v for k, v in SAMPLERS[name]().state_dict().items() if k not in OpWarmup().options()}
    SAMPLERS[name]().load_state_dict(old)  # written before the option existed: it ran without warmup


def test_rsps_with_op_warmup_resumes_to_the_same_genotype(tmp_path):
    """A search whose warmup spans the kill point gives the uninterrupted run's genotype and losses."""
    settings_ = dict(space="nb201", data="digits", space_options={"C": 4, "N": 1}, batch_size=64, steps_per_epoch=4,
                     strategy="random", sampler_options={"op_warmup": True, "warmup_fraction": 0.6}, epochs=3,
                     seed=2, runs_root=str(tmp_path),
                     optimizer_options={"num_candidates": 8, "screen_batches": 1, "top_k": 3})
    full = SearchRun(merged_config(settings_), run_dir=tmp_path / "full").run()

    class Killed(Exception):
        pass

    def kill(run, event):
        if event == "step" and run.state.epoch == 1 and run.state.step_in_epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        SearchRun(merged_config(settings_), run_dir=tmp_path / "killed", callbacks=[kill]).run()
    resumed = SearchRun.resume(tmp_path / "killed").run()
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert [h["op_warmup_p"] for h in full.history][0] > 0


def test_gdas_with_op_warmup_leaves_alpha_alone_while_every_edge_is_widened(tmp_path):
    """At p = 1 the arch loss has no path to alpha: the step is skipped, not an autograd error."""
    settings_ = dict(space="nb201", data="digits", space_options={"C": 4, "N": 1}, batch_size=32, steps_per_epoch=3,
                     strategy="gdas", sampler_options={"op_warmup": True, "warmup_fraction": 0.9}, epochs=2,
                     seed=0, runs_root=str(tmp_path))
    snapshots = []

    def record_alpha(run, event):
        if event == "step":
            snapshots.append({k: v.detach().clone() for k, v in run.arch.state_dict().items()})

    run = SearchRun(merged_config(settings_), run_dir=tmp_path / "run", callbacks=[record_alpha])
    initial = {k: v.detach().clone() for k, v in run.arch.state_dict().items()}
    result = run.run()
    assert all(torch.equal(initial[k], v) for k, v in snapshots[0].items())  # step 0: p = 1, nothing moved
    assert any(not torch.equal(initial[k], v) for k, v in snapshots[-1].items())  # single paths move alpha later
    assert result.genotype is not None
