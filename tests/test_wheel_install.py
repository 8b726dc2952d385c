"""Release check: every package's wheel, installed (not editable) one pip call each into a fresh environment,
works from outside the repository: ``nasplug plugins`` lists them all and a one-epoch search runs.

Marked slow (about a minute): ``python -m pytest -q -m slow tests/test_wheel_install.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECTS = [REPO, *sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml")),
            *sorted(p.parent for p in REPO.glob("examples/*/pyproject.toml"))]
BUILD_LEFTOVERS = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "tests", ".venv", "runs")


def _run(*args, cwd: Path, env=None, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _source_copy(project: Path, into: Path) -> Path:
    """The files a wheel is built from, copied out of the repository (so the build leaves nothing in it)."""
    target = into / project.name
    if project == REPO:
        target.mkdir(parents=True)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(project / name, target / name)
        shutil.copytree(project / "nasplug", target / "nasplug", ignore=BUILD_LEFTOVERS)
    else:
        shutil.copytree(project, target, ignore=BUILD_LEFTOVERS)
    return target


def _setuptools_can_build() -> bool:
    """SPDX licence expressions need setuptools>=77; without it here, pip's build isolation fetches it."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools

    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.mark.slow
def test_wheels_install_into_a_fresh_environment_and_search_outside_the_repository(tmp_path):
    wheels, sources = tmp_path / "wheels", tmp_path / "src"
    no_isolation = ["--no-build-isolation"] if _setuptools_can_build() else []
    for project in PROJECTS:
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *no_isolation, "-w", wheels,
             _source_copy(project, sources), cwd=tmp_path)
    names = {tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PROJECTS}
    assert len(list(wheels.glob("*.whl"))) == len(PROJECTS)

    # a fresh environment: the base interpreter's packages (torch), none of this one's editable installs
    venv = tmp_path / "venv"
    _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--system-site-packages", "--without-pip",
         venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    if _run(python, "-c", "import importlib.util as u; print(u.find_spec('torch') is not None)",
            cwd=tmp_path).stdout.strip() != "True":
        # CI's environment has torch in its own site-packages: reach it by path (its .pth files, the editable
        # finders among them, are not run), behind the fresh environment's own packages
        purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                            cwd=tmp_path).stdout.strip())
        import torch

        (purelib / "zz_outer_site.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--find-links", wheels,
           "--force-reinstall", "--no-deps"]
    kernel = next(wheels.glob("nasplug-*.whl"))
    _run(*pip, kernel, cwd=tmp_path)  # one pip call per package, the kernel first
    for wheel in sorted(set(wheels.glob("*.whl")) - {kernel}):
        _run(*pip, wheel, cwd=tmp_path)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run(python, "-c", "import json, nasplug, nasplug_gdas, nasplug_tunas, nasplug_nb201; "
                 "print(json.dumps([nasplug.__file__, nasplug_gdas.__file__, nasplug_tunas.__file__]))",
                 cwd=tmp_path, env=env)
    assert all(str(venv) in path for path in json.loads(where.stdout)), where.stdout  # the wheels, not the repo

    listed = json.loads(_run(venv / "bin" / "nasplug", "plugins", "--json", cwd=tmp_path, env=env).stdout)
    assert {p["distribution"] for p in listed["plugins"]} == names and listed["errors"] == []
    _run(python, "-c", "from nasplug_gdas.rnn import load_corpus; assert load_corpus().vocab_size > 100",
         cwd=tmp_path, env=env)  # package data (the bundled corpus) is in the wheel

    run_dir = tmp_path / "run"
    _run(venv / "bin" / "nasplug", "search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1",
         "--strategy", "gdas", "--data", "digits", "--epochs", "1", "--steps-per-epoch", "2", "--threads", "1",
         "--run-dir", run_dir, "--quiet", cwd=tmp_path, env=env)
    assert json.loads((run_dir / "genotype.json").read_text())["space"] == "nb201"
