"""Conformance kit 1.1 (issue 23): the resume rule, stateful samplers, verdicts that judge only the named
distribution, crashes and messages that name their rule."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
import torch

from nasplug import Reward, Sampler, Selection, hookimpl
from nasplug.plugins import load_plugins
from nasplug.registry import Registry
from nasplug.testing import ContractViolation, check_reward, check_sampler, check_space

from test_conformance_kit import GOOD, install_plugin


class DrawCounter(Sampler):
    """A correct stateful sampler: its draw count shifts each choice, and lives in state_dict (as asked)."""

    differentiable = False
    single_path = True

    def __init__(self):
        self.draws = 0

    def sample(self, arch, state):
        self.draws += 1
        out = {}
        for name in arch.names():
            n = arch[name].numel()
            out[name] = Selection.one_hot(n, (int(torch.randint(n, (1,), generator=state.generator)) + self.draws) % n)
        return out

    def state_dict(self):
        return {"draws": self.draws}

    def load_state_dict(self, state):
        self.draws = int(state["draws"])


class EpochCounter(DrawCounter):
    """The planted defect: counts the epochs it has seen itself and leaves the count out of state_dict."""

    def __init__(self):
        super().__init__()
        self.epochs_seen, self.last_epoch = 0, None

    def sample(self, arch, state):
        if state.epoch != self.last_epoch:
            self.epochs_seen, self.last_epoch = self.epochs_seen + 1, state.epoch
        out = {}
        for name in arch.names():
            n = arch[name].numel()
            drawn = int(torch.randint(n, (1,), generator=state.generator))
            out[name] = Selection.one_hot(n, (drawn + self.epochs_seen) % n)
        return out

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        return None


class Undeclared(Sampler):
    """Leaves its declarations to the base class's defaults (a guess) instead of stating them."""

    __init__, sample, state_dict, load_state_dict = (DrawCounter.__init__, DrawCounter.sample, DrawCounter.state_dict,
                                                     DrawCounter.load_state_dict)


class Crashes(DrawCounter):
    def sample(self, arch, state):
        raise IndexError("list index out of range")


class FloatReward(Reward):
    needs_target = False

    def __call__(self, quality, cost):
        return float(quality)


def registry_with(**samplers) -> Registry:
    module = types.ModuleType("kit_tests")

    @hookimpl
    def nasplug_samplers():
        return samplers

    @hookimpl
    def nasplug_rewards():
        return {"float-reward": FloatReward}

    module.nasplug_samplers, module.nasplug_rewards = nasplug_samplers, nasplug_rewards
    return Registry(load_plugins([module], entry_points=False))


@pytest.mark.slow
def test_a_correct_stateful_sampler_passes_and_the_planted_epoch_counter_is_caught():
    registry = registry_with(counter=DrawCounter, planted=EpochCounter)
    check_sampler("kit_tests:counter", registry)
    with pytest.raises(ContractViolation, match=r"breaks rule \[sampler.resume\].*resumed from its run directory"):
        check_sampler("kit_tests:planted", registry)


def test_a_sampler_that_does_not_declare_its_kind_is_flagged():
    with pytest.raises(ContractViolation, match=r"\[sampler.declares-differentiable\]: declare differentiable"):
        check_sampler("kit_tests:undeclared", registry_with(undeclared=Undeclared))


def test_a_crash_inside_a_sampler_check_is_reported_under_a_rule():
    with pytest.raises(ContractViolation, match=r"\[sampler.samples-on-a-space\].*IndexError"):
        check_sampler("kit_tests:crashes", registry_with(crashes=Crashes))


def test_a_reward_that_returns_a_python_float_is_told_so_plainly():
    with pytest.raises(ContractViolation, match="returned a float, not a tensor: gradient strategies"):
        check_reward("kit_tests:float-reward", registry_with())


def test_a_genotype_the_json_round_trip_breaks_gets_a_useful_message(monkeypatch):
    from nasplug.spaces.nb201 import NB201Space

    to_json, from_json = NB201Space.genotype_from_choices, NB201Space.genotype_from_json

    class IntKeyed:
        def __init__(self, genotype):
            self.genotype = genotype

        def to_json(self):
            return {0: self.genotype.to_json()}

    monkeypatch.setattr(NB201Space, "genotype_from_choices", lambda self, c: IntKeyed(to_json(self, c)))
    monkeypatch.setattr(NB201Space, "genotype_from_json", lambda self, data: from_json(self, data[0]))
    with pytest.raises(ContractViolation, match=r"\[space.genotype-round-trip\].*KeyError.*string keys"):
        check_space("nasplug:nb201")


BROKEN = """
import no_such_module_anywhere
"""


def test_the_verdict_judges_only_the_named_distribution(tmp_path):
    site = install_plugin(tmp_path, "nasplug-thirdparty-good", "tp_good", GOOD)
    install_plugin(tmp_path / "other", "nasplug-thirdparty-broken", "tp_broken", BROKEN)
    for path in (tmp_path / "other" / "site").iterdir():  # one site folder holds both
        target = site / path.name
        if not target.exists():
            path.rename(target)
    env = {"PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "nasplug.testing", "nasplug-thirdparty-good"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 components checked, 0 broke a rule" in done.stdout
    assert "other plugins (not judged here): 1 failed to load" in done.stdout
    assert "nasplug-thirdparty-broken" in done.stdout
