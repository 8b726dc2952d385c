"""Shared fixtures for the kernel's tests."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# under --import-mode=importlib the tests' own directory is not on sys.path; the run-directory tests share
# rundir_helpers.py from here
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
SHARED_DATA = Path(os.environ.get("NASPLUG_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Make a distribution with a ``nasplug`` entry point importable from ``tmp_path``.

    Returns a function ``make(dist_name, module_name, source)``: it writes the
    module and a ``.dist-info`` with its entry point, so
    ``importlib.metadata`` finds it exactly as it finds an installed plugin.
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def make(dist_name: str, module_name: str, source: str, version: str = "0.0.1") -> None:
        (tmp_path / f"{module_name}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[nasplug]\n{module_name} = {module_name}\n")
        created.append(module_name)

    yield make
    for name in created:
        sys.modules.pop(name, None)
