import numpy as np
import torch
from hypothesis import given, settings, strategies as st
from scipy.stats import chisquare

from nasplug import registry
from nasplug.components import ArchParameters
from nasplug.spaces.base import Decision
from nasplug_tunas.categorical import CategoricalSampler, policy_choice
from nasplug_tunas.testing import TabularState


class _Space:
    """Two op decisions and one filter decision (largest = last choice)."""

    def __init__(self, sizes=(3, 5), filter_size=4):
        self.decisions = tuple(Decision(f"op{i}", [f"c{k}" for k in range(n)]) for i, n in enumerate(sizes)) + (
            Decision("f", [f"x{k}" for k in range(filter_size)]),)

    def filter_decisions(self):
        return {"f": len(self.decisions[-1].choices) - 1}


def _state(space, progress_step=0, total=100, seed=0):
    state = TabularState(space, torch.Generator().manual_seed(seed), 1, total)
    state.step_in_epoch = progress_step
    return state


def test_registered():
    assert isinstance(registry.get("sampler", "categorical"), CategoricalSampler)


def test_frequencies_match_softmax_chi_square():
    space = _Space(sizes=(4,), filter_size=2)
    arch = ArchParameters(space.decisions, 0.0)
    with torch.no_grad():
        arch["op0"].copy_(torch.tensor([1.0, 0.0, -1.0, 0.5]))
    sampler = CategoricalSampler(op_warmup=False, filter_warmup=False)
    state = _state(space)
    counts = np.zeros(4)
    n = 4000
    for _ in range(n):
        sel = sampler.sample(arch, state)["op0"]
        assert sel.index is not None and float(sel.weights.sum()) == 1.0 and float(sel.weights[sel.index]) == 1.0
        counts[sel.index] += 1
    p = torch.softmax(arch["op0"].detach().double(), -1).numpy()
    expected = p / p.sum() * n
    assert chisquare(counts, expected).pvalue > 1e-3


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_same_generator_state_same_sample(seed):
    space = _Space()
    arch = ArchParameters(space.decisions, 1.0, torch.Generator().manual_seed(1))
    sampler = CategoricalSampler()
    a = sampler.sample(arch, _state(space, 10, seed=seed))
    b = sampler.sample(arch, _state(space, 10, seed=seed))
    assert {k: (s.index, policy_choice(s)) for k, s in a.items()} == {k: (s.index, policy_choice(s)) for k, s in b.items()}


def test_warmup_at_start_mixes_ops_and_enables_all_filters():
    space = _Space()
    arch = ArchParameters(space.decisions, 0.0)
    sampler = CategoricalSampler()
    sel = sampler.sample(arch, _state(space, 0))  # p = 1
    for name in ("op0", "op1"):
        assert sel[name].index is None
        assert torch.allclose(sel[name].weights, torch.full_like(sel[name].weights, 1 / len(sel[name].weights)))
        assert 0 <= policy_choice(sel[name]) < len(sel[name].weights)  # the draw is kept for REINFORCE
    assert sel["f"].index == 3 and float(sel["f"].weights[3]) == 1.0


def test_no_warmup_after_warmup_fraction():
    space = _Space()
    arch = ArchParameters(space.decisions, 0.0)
    sampler = CategoricalSampler()
    for step in (25, 50, 99):
        sel = sampler.sample(arch, _state(space, step))
        assert all(s.index == policy_choice(s) for s in sel.values())


def test_warmup_rate_matches_p():
    space = _Space(sizes=(3,), filter_size=4)
    arch = ArchParameters(space.decisions, 0.0)
    sampler = CategoricalSampler()
    state = _state(space, 15)  # p = 1 - 0.15/0.25 = 0.4
    n, mixed = 2000, 0
    for _ in range(n):
        mixed += sampler.sample(arch, state)["op0"].index is None
    # binomial(2000, 0.4): sd ~ 22
    assert abs(mixed - 0.4 * n) < 5 * np.sqrt(n * 0.4 * 0.6)


def test_disabled_warmup():
    space = _Space()
    arch = ArchParameters(space.decisions, 0.0)
    sel = CategoricalSampler(op_warmup=False, filter_warmup=False).sample(arch, _state(space, 0))
    assert all(s.index is not None for s in sel.values())
