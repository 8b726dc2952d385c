
import pytest
import torch

from nasplug import registry
from nasplug.errors import ConfigError
from nasplug.spaces.base import Decision
from nasplug_tunas.categorical import CategoricalSampler
from nasplug_tunas.reinforce import Reinforce
from nasplug_tunas.testing import TabularRun


class _Space:
    name = "toy"

    def __init__(self):
        self.decisions = (Decision("a", ["a0", "a1", "a2"]), Decision("b", ["b0", "b1"]))

    def genotype_from_choices(self, choices):
        return dict(choices)


def test_registered_and_options_validated():
    assert isinstance(registry.get("arch_optimizer", "reinforce"), Reinforce)
    for bad in ({"lr": -1.0}, {"betas": (1.5, 0.9)}, {"baseline_momentum": 1.0}, {"lr_growth": 0}):
        with pytest.raises(ConfigError):
            Reinforce(**bad)


def test_policy_learns_best_architecture_without_a_supernet():
    # a tabular run: quality from a function of the choices, no weights at all
    quality = lambda c: {0: 0.2, 1: 0.9, 2: 0.4}[c["a"]] + (0.05 if c["b"] == 1 else 0.0)
    run = TabularRun(_Space(), CategoricalSampler(), quality, epochs=10, steps_per_epoch=40, arch_lr=0.05)
    opt = Reinforce()
    run.run(opt)
    assert run.arch.argmax() == {"a": 1, "b": 1}
    assert opt.final_genotype(run) == {"a": 1, "b": 1}
    # the first 25% of steps had learning rate 0: nothing moved then
    assert opt.adam.param_groups[0]["betas"] == (0.0, 0.999)


def test_logits_frozen_during_delay_and_gradient_is_reinforce():
    quality = lambda c: float(c["a"] == 2)
    run = TabularRun(_Space(), CategoricalSampler(op_warmup=False), quality, epochs=4, steps_per_epoch=10)
    opt = Reinforce(lr=0.1)
    opt.setup(run)
    for step in range(10):  # progress < 0.25
        run.state.step_in_epoch = step
        metrics = opt.arch_step(run, None, None)
        assert metrics["rl_lr"] == 0.0
    assert torch.count_nonzero(run.arch["a"].detach()) == 0
    # the gradient of -(r - b) log pi(a) w.r.t. the logits is -(r - b) (onehot(a) - softmax)
    run.state.epoch, run.state.step_in_epoch = 2, 0
    sel = {"a": 2, "b": 0}
    opt.adam.zero_grad()
    log_p = torch.log_softmax(run.arch["a"], -1)[sel["a"]] + torch.log_softmax(run.arch["b"], -1)[sel["b"]]
    (-0.5 * log_p).backward()
    expected = -0.5 * (torch.nn.functional.one_hot(torch.tensor(2), 3).float() - torch.softmax(run.arch["a"].detach(), -1))
    assert torch.allclose(run.arch["a"].grad, expected)


def test_baseline_is_zero_debiased_moving_average():
    opt = Reinforce(baseline_momentum=0.95)
    rewards = [0.3, 0.7, 0.1, 0.9]
    ema = 0.0
    for k, r in enumerate(rewards, start=1):
        b = opt.update_baseline(r)
        ema = 0.95 * ema + 0.05 * r
        assert b == pytest.approx(ema / (1 - 0.95 ** k))
    assert Reinforce().update_baseline(0.42) == pytest.approx(0.42)  # the first advantage is 0


def test_reward_and_cost_are_used_when_present():
    # quality identical everywhere; only latency distinguishes: the absolute reward pulls to T0 = 2
    costs = {0: 1.0, 1: 2.0, 2: 3.5}
    reward = registry.get("reward", "absolute", target=2.0, beta=-0.5)
    run = TabularRun(_Space(), CategoricalSampler(), lambda c: 0.5, cost=lambda c: costs[c["a"]], reward=reward,
                     epochs=10, steps_per_epoch=40, arch_lr=0.05)
    history = run.run(Reinforce())
    assert "cost" in history[-1] and "reward" in history[-1]
    assert run.arch.argmax()["a"] == 1


def _epochs(run, opt, until):
    while run.state.epoch < until:
        for step in range(run.state.steps_per_epoch):
            run.state.step_in_epoch = step
            opt.arch_step(run, None, None)
        run.state.epoch += 1
        run.state.step_in_epoch = 0


def test_state_dict_round_trip_continues_identically():
    quality = lambda c: 0.1 * c["a"] + 0.3 * c["b"]

    def make():
        return TabularRun(_Space(), CategoricalSampler(), quality, epochs=4, steps_per_epoch=10, seed=3)

    full, opt_full = make(), Reinforce()
    opt_full.setup(full)
    _epochs(full, opt_full, 4)

    first, opt = make(), Reinforce()
    opt.setup(first)
    _epochs(first, opt, 2)
    saved = {"opt": opt.state_dict(), "arch": {k: v.detach().clone() for k, v in first.arch.logits.items()},
             "gen": first.generator.get_state()}

    second, opt2 = make(), Reinforce()
    opt2.setup(second)
    opt2.load_state_dict(saved["opt"])
    with torch.no_grad():
        for k, v in saved["arch"].items():
            second.arch[k].copy_(v)
    second.generator.set_state(saved["gen"])
    second.state.epoch = 2
    _epochs(second, opt2, 4)
    assert opt2.reward_count == opt_full.reward_count == 40
    for k in full.arch.names():
        assert torch.equal(full.arch[k].detach(), second.arch[k].detach())
