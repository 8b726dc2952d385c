"""The Gumbel sampler: Eq. 5-7 exactly, sample frequencies, the tau schedule, single-path execution."""


import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.stats import chisquare
from torch import nn

from nasplug.components import ArchParameters, Selection, apply_selection
from nasplug.errors import ConfigError
from nasplug import SearchState
from nasplug.spaces.nb201 import NB201Space

import nasplug_gdas.sampler as sampler_module
from nasplug_gdas.sampler import GumbelSampler, gumbel_hardwts, linear_tau

alphas = st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=2, max_size=8)


@settings(max_examples=40, deadline=None)
@given(alpha=alphas, tau=st.floats(0.1, 10), seed=st.integers(0, 2**31 - 1))
def test_forward_weights_are_exactly_one_hot(alpha, tau, seed):
    g = torch.Generator().manual_seed(seed)
    hardwts, index, probs = gumbel_hardwts(torch.tensor(alpha, requires_grad=True), tau, g)
    expected = torch.zeros(len(alpha))
    expected[index] = 1.0
    assert torch.equal(hardwts.detach(), expected)  # bit-exact: 1 - p + p and 0 - p + p
    assert index == int(torch.argmax(probs))


@settings(max_examples=40, deadline=None)
@given(alpha=alphas, tau=st.floats(1.0, 10), seed=st.integers(0, 2**31 - 1), c=st.floats(0.5, 3))
def test_straight_through_gradient_reaches_every_logit(alpha, tau, seed, c):
    """Backward is Eq. 7's softmax: d h_i / d alpha_j = p_i (delta_ij - p_j) / tau (log_softmax cancels)."""
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    hardwts, index, probs = gumbel_hardwts(a, tau, torch.Generator().manual_seed(seed))
    (c * hardwts[index]).backward()
    p = probs.detach()
    delta = torch.zeros_like(p)
    delta[index] = 1.0
    expected = c * p[index] * (delta - p) / tau
    torch.testing.assert_close(a.grad, expected, rtol=1e-9, atol=1e-12)
    assert (a.grad != 0).all()


def test_sample_frequencies_match_softmax_alpha():
    """Gumbel-Max draws op k with probability softmax(alpha)_k (Eq. 4, 6), whatever tau."""
    alpha = torch.tensor([1.0, 0.0, -0.5, 2.0, 0.3])
    g = torch.Generator().manual_seed(1234)
    n = 6000
    counts = torch.zeros(5)
    for k in range(n):
        _, index, _ = gumbel_hardwts(alpha, 5.0 if k % 2 else 0.5, g)
        counts[index] += 1
    expected = torch.softmax(alpha, 0) * n
    assert expected.min() > 5  # chi-square validity
    _, p_value = chisquare(counts.numpy(), expected.numpy())
    assert p_value > 1e-3, (counts, expected)
    # and a clearly wrong distribution is rejected by the same test
    _, p_uniform = chisquare(counts.numpy(), torch.full((5,), n / 5).numpy())
    assert p_uniform < 1e-6


@settings(max_examples=60, deadline=None)
@given(tau_max=st.floats(0.5, 20), ratio=st.floats(0.001, 1.0), epochs=st.integers(2, 300))
def test_tau_schedule_endpoints_and_monotone(tau_max, ratio, epochs):
    tau_min = tau_max * ratio
    taus = [linear_tau(tau_max, tau_min, e, epochs) for e in range(epochs)]
    assert taus[0] == pytest.approx(tau_max)
    assert taus[-1] == pytest.approx(tau_min)
    assert all(a >= b - 1e-12 for a, b in zip(taus, taus[1:]))


def _state(space, epoch, epochs):
    return SearchState(space, torch.Generator().manual_seed(0), epochs, 1, epoch=epoch)


def test_default_tau_min_depends_on_space():
    from nasplug_gdas.frc import DartsFRCSpace

    s = GumbelSampler()
    nb, darts = NB201Space(C=4, N=1), DartsFRCSpace(C=4, layers=3)
    assert s.tau(_state(nb, 0, 10)) == pytest.approx(10.0)
    assert s.tau(_state(nb, 9, 10)) == pytest.approx(0.1)    # authors' NAS-Bench-201 code
    assert s.tau(_state(darts, 9, 10)) == pytest.approx(1.0)  # the CVPR'19 paper
    assert GumbelSampler(tau_min=0.5).tau(_state(nb, 9, 10)) == pytest.approx(0.5)
    assert GumbelSampler(tau=2.0).tau(_state(nb, 5, 10)) == 2.0
    assert s.metrics(_state(nb, 9, 10)) == {"tau": pytest.approx(0.1)}


@pytest.mark.parametrize("options", [{"tau_max": 0}, {"tau_min": -1.0}, {"tau": float("nan")},
                                     {"tau_max": 1.0, "tau_min": 2.0}, {"carry_unselected": "yes"}])
def test_bad_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        GumbelSampler(**options)


def test_redraws_when_noise_is_not_finite(monkeypatch):
    calls = []
    real = sampler_module.draw_gumbel

    def flaky(shape, generator, device=None, dtype=torch.float32):
        calls.append(1)
        noise = real(shape, generator, device, dtype)
        if len(calls) == 1:
            noise[0] = float("inf")
        return noise

    monkeypatch.setattr(sampler_module, "draw_gumbel", flaky)
    hardwts, _, probs = gumbel_hardwts(torch.zeros(4), 1.0, torch.Generator().manual_seed(0))
    assert len(calls) == 2
    assert torch.isfinite(probs).all() and hardwts.sum() == 1


def _ops(n):
    torch.manual_seed(0)
    return nn.ModuleList(nn.Linear(3, 3) for _ in range(n))


@pytest.mark.parametrize("carry", [False, True])
def test_carry_unselected_changes_only_the_gradient(carry):
    """Forward is identical; carrying adds sum(dL/dout) to each unselected hard weight's gradient."""
    ops, x = _ops(4), torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    alpha = torch.zeros(4, dtype=torch.float32, requires_grad=True)
    hardwts, index, probs = gumbel_hardwts(alpha, 2.0, torch.Generator().manual_seed(3))
    hardwts.retain_grad()
    out = apply_selection(ops, x, Selection(hardwts, index, carry))
    torch.testing.assert_close(out, ops[index](x))
    out.pow(2).sum().backward()
    upstream = 2 * out.detach()
    expected = torch.full((4,), float(upstream.sum())) if carry else torch.zeros(4)
    expected[index] = float((upstream * ops[index](x).detach()).sum())
    torch.testing.assert_close(hardwts.grad, expected)


def test_only_the_sampled_op_runs_forward_and_backward():
    space = NB201Space(C=4, N=1)
    net = space.build_supernet((1, 8, 8), 10)
    arch = ArchParameters(space.decisions, 1e-3, torch.Generator().manual_seed(0))
    called = set()
    for name, module in net.named_modules():
        if ".edges." in name and name.count(".") == 4:  # layers.i.edges.<edge>.<op>
            module.register_forward_hook(lambda m, i, o, name=name: called.add(name))
    selections = GumbelSampler().sample(arch, _state(space, 0, 10))
    net(torch.randn(2, 1, 8, 8), selections).sum().backward()
    for name, module in net.named_modules():
        if ".edges." in name and name.count(".") == 4:
            edge = name.split(".")[3]
            chosen = int(name.split(".")[4]) == selections[edge].index
            assert (name in called) == chosen
            for p in module.parameters():
                assert (p.grad is not None) == chosen
    for name in arch.names():
        assert arch[name].grad is not None and (arch[name].grad != 0).all()
