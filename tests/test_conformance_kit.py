"""The conformance kit as a third-party author meets it (issue 15, item 4).

A plugin package is written to a temporary folder outside the repository,
installed with pip (``--target`` a temporary site folder, so the test's
environment is not changed), and checked with the documented command
``python -m nasplug.testing DIST`` in a fresh interpreter that sees the
folder on ``PYTHONPATH``.  A conforming package passes; a deliberately broken
one fails with messages naming each broken rule.  The kit also ships in the
kernel's wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.3.0"
dependencies = ["nasplug>=0.1,<0.2"]

[project.entry-points.nasplug]
{module} = "{module}.plugin"

[tool.setuptools]
packages = ["{module}"]
"""

GOOD = """
    import torch

    from nasplug import ConfigError, Reward, Sampler, Selection, StrategySpec, hookimpl


    class RelaxedSampler(Sampler):
        '''SNAS-style: softmax(alpha / tau), a relaxed mixture with gradient to alpha.'''

        differentiable = True
        single_path = False

        def __init__(self, tau: float = 1.0):
            if not tau > 0:
                raise ConfigError(f"relaxed sampler tau must be > 0, got {tau!r}")
            self.tau = float(tau)

        def sample(self, arch, state):
            return {name: Selection(torch.softmax(arch[name] / self.tau, dim=-1)) for name in arch.names()}


    class LinearLatencyReward(Reward):
        '''Q - weight * T: needs no latency target.'''

        needs_target = False

        def __init__(self, target=None, weight: float = 0.01):
            super().__init__(target)
            self.weight = float(weight)

        def __call__(self, quality, cost):
            return quality - self.weight * cost


    @hookimpl
    def nasplug_samplers():
        return {"relaxed": RelaxedSampler}


    @hookimpl
    def nasplug_rewards():
        return {"linear-latency": LinearLatencyReward}


    @hookimpl
    def nasplug_strategies():
        return {"relaxed": StrategySpec(sampler="nasplug-thirdparty-good:relaxed", arch_optimizer="nasplug:gradient",
                                        sampler_options={"tau": 2.0}, description="SNAS-like relaxed search")}
"""

BAD = """
    import torch

    from nasplug import Reward, Sampler, Selection, StrategySpec, hookimpl


    class ClaimsSinglePath(Sampler):
        '''Declares single-path but returns relaxed mixtures.'''

        differentiable = True
        single_path = True

        def sample(self, arch, state):
            return {name: Selection(torch.softmax(arch[name], dim=-1)) for name in arch.names()}


    class GlobalRandomness(Sampler):
        '''Draws from torch's global generator instead of state.generator.'''

        differentiable = False
        single_path = True

        def sample(self, arch, state):
            out = {}
            for name in arch.names():
                n = arch[name].numel()
                out[name] = Selection.one_hot(n, int(torch.randint(n, (1,))))
            return out


    class FloatOnlyReward(Reward):
        '''Turns tensors into floats, so gradient strategies get no gradient.'''

        def __call__(self, quality, cost):
            return float(quality) - 0.01 * float(cost)


    @hookimpl
    def nasplug_samplers():
        return {"claims-single-path": ClaimsSinglePath, "global-randomness": GlobalRandomness}


    @hookimpl
    def nasplug_rewards():
        return {"float-only": FloatOnlyReward}


    @hookimpl
    def nasplug_strategies():
        return {"short-names": StrategySpec(sampler="mixture", arch_optimizer="gradient")}
"""


def install_plugin(root: Path, dist: str, module: str, source: str) -> Path:
    """Write a plugin package under ``root`` and pip-install it into ``root/site``; return the site folder."""
    package = root / dist
    (package / module).mkdir(parents=True)
    (package / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, module=module))
    (package / module / "__init__.py").write_text("")
    (package / module / "plugin.py").write_text(textwrap.dedent(source))
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, capture_output=True, text=True)
    return site


def run_kit(site: Path, dist: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nasplug.testing", dist], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def outside(tmp_path):
    assert REPO not in tmp_path.parents
    return tmp_path


def test_a_conforming_third_party_plugin_passes_the_documented_command(outside):
    site = install_plugin(outside, "nasplug-thirdparty-good", "tp_good", GOOD)
    work = outside / "work"
    work.mkdir()
    done = run_kit(site, "nasplug-thirdparty-good", work)
    assert done.returncode == 0, done.stdout + done.stderr
    for case in ("sampler:nasplug-thirdparty-good:relaxed", "reward:nasplug-thirdparty-good:linear-latency",
                 "strategy:nasplug-thirdparty-good:relaxed"):
        assert f"ok    {case}" in done.stdout, done.stdout
    assert "3 components checked, 0 broke a rule" in done.stdout
    assert list(work.iterdir()) == []  # the kit wrote nothing where it was run


def test_a_non_conforming_plugin_fails_naming_each_broken_rule(outside):
    site = install_plugin(outside, "nasplug-thirdparty-bad", "tp_bad", BAD)
    done = run_kit(site, "nasplug-thirdparty-bad", outside)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "FAIL  sampler:nasplug-thirdparty-bad:claims-single-path" in out
    assert "breaks rule [sampler.single-path-declared]" in out
    assert "breaks rule [sampler.seeded]" in out and "draw only from state.generator" in out
    assert "breaks rule [reward.floats-and-tensors]" in out
    assert "breaks rule [strategy.qualified-parts]" in out
    assert "4 components checked, 4 broke a rule" in out


def test_an_unknown_distribution_is_an_error_listing_the_installed_ones(outside):
    done = subprocess.run([sys.executable, "-m", "nasplug.testing", "nasplug-nonexistent"], cwd=outside,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "installed: nasplug" in done.stderr


def setuptools_builds_the_kernel() -> bool:
    """The kernel's SPDX licence needs setuptools>=77; with an older one here, pip's build isolation fetches it."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def test_the_kit_ships_in_the_kernel_wheel(tmp_path):
    """Built from a copy of the kernel's sources, so the build leaves nothing in the checkout."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "nasplug", source / "nasplug", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    isolation = ["--no-build-isolation"] if setuptools_builds_the_kernel() else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, text=True)
    wheel, = (tmp_path / "dist").glob("nasplug-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("__init__", "__main__", "runner", "rules", "spaces", "search_parts"):
        assert f"nasplug/testing/{module}.py" in names
