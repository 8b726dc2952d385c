"""Shared fixtures: a registry with a test-local softmax mixture sampler.

The plugin's presets name the kernel's DARTS ``mixture`` sampler; these
tests register the same softmax relaxation under their own name in a private
registry, which also checks that the optimizers work with any differentiable
sampler (the process-wide registry is left alone).
"""

from __future__ import annotations

import types

import pytest

from nasplug.strategies.mixture import MixtureSampler
from nasplug.hookspecs import hookimpl
from nasplug.plugins import load_plugins
from nasplug.registry import Registry

TEST_SAMPLER = "gibbs-test-softmax"


@hookimpl
def nasplug_samplers():
    return {TEST_SAMPLER: MixtureSampler}


HOOKS = types.SimpleNamespace(__name__="gibbs-test-hooks", nasplug_samplers=nasplug_samplers)


@pytest.fixture(scope="session")
def gibbs_registry():
    return Registry(load_plugins([HOOKS]))


@pytest.fixture
def tiny_config():
    """A few-second nb201 search on a slice of digits."""
    def make(strategy="gibbs", **overrides):
        cfg = {"space": "nb201", "strategy": strategy, "data": "digits", "sampler": TEST_SAMPLER,
               "space_options": {"C": 4, "N": 1}, "data_options": {"limit_train": 160}, "batch_size": 16,
               "steps_per_epoch": 3, "epochs": 2, "seed": 3}
        cfg.update(overrides)
        return cfg
    return make
