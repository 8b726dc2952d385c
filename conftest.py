"""Repository-wide test set-up, shared by the kernel's, the plugins' and the example's tests.

The test models are tiny: one torch thread runs them about as fast as two, and
it cannot be slowed down by oversubscription when the machine is busy (several
threads spinning on two shared cores made steps ten times slower here).

A plugin's tests need the plugin installed: where it is not (a partial
install), each of its test files is reported as skipped instead of failing
to import.

Hypothesis explores new examples on every local run (that is how it found the
BFGS overflow in nasplug-gibbs); under CI (``CI`` set, as ``.ci/run`` does) it
draws a fixed set, so a red CI always reproduces.
"""

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


ROOT = Path(__file__).resolve().parent
#: a plugin's folder -> the package its tests import
PLUGIN_PACKAGES = {package.parent.parent: package.parent.name
                   for package in [*ROOT.glob("plugins/*/nasplug_*/__init__.py"),
                                   *ROOT.glob("examples/*/nasplug_*/__init__.py")]}


def missing_plugin(path: Path) -> str | None:
    """The package of the plugin folder ``path`` lies in, when that package is not installed."""
    for folder, package in PLUGIN_PACKAGES.items():
        if folder in path.parents and not is_installed(package):
            return package
    return None


def is_installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # an import hook that hides the package says so by raising
        return False


class PluginNotInstalled(pytest.Module):
    """A test file of a plugin that is not installed: collected as one skip, never imported."""

    def collect(self):
        pytest.skip(f"{missing_plugin(self.path)} is not installed (pip install -e {self.path.parents[1]})")


def pytest_pycollect_makemodule(module_path, parent):
    if missing_plugin(Path(module_path)) is not None:
        return PluginNotInstalled.from_parent(parent, path=module_path)
    return None
