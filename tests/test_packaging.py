"""Every package's metadata says what it needs and what it is: floor, licence, typing marker, dependencies."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECTS = [REPO, *sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml")),
            *sorted(p.parent for p in REPO.glob("examples/*/pyproject.toml"))]
FLOOR = (3, 11)
#: import name -> distribution name, where they differ
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


def _project(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


def _packages(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("nasplug*/__init__.py"))


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.name)
def test_metadata_floor_licence_readme_and_typing_marker(root):
    project = _project(root)["project"]
    assert project["requires-python"] == f">={FLOOR[0]}.{FLOOR[1]}"
    assert f"Programming Language :: Python :: {FLOOR[0]}.{FLOOR[1]}" in project["classifiers"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (root / "LICENSE").read_text()
    assert (root / project["readme"]).is_file()
    assert "Homepage" in project["urls"]
    build = _project(root)["build-system"]["requires"]
    assert any(r.replace(" ", "") == "setuptools>=77" for r in build)  # SPDX licence expressions need 77
    package_data = _project(root)["tool"]["setuptools"]["package-data"]
    for package in _packages(root):
        assert (package / "py.typed").is_file() and "py.typed" in package_data[package.name]


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.name)
def test_dependencies_have_lower_bounds_only(root):
    project = _project(root)["project"]
    for requirement in project["dependencies"]:
        assert "<=" not in requirement and "==" not in requirement, requirement
        if _requirement_name(requirement) in ("torch", "torchvision"):
            assert "<" not in requirement, requirement


def _modules(root: Path):
    for package in _packages(root):
        for path in package.rglob("*.py"):
            yield path


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.name)
def test_code_parses_at_the_claimed_python_floor(root):
    for path in _modules(root):
        ast.parse(path.read_text(), str(path), feature_version=FLOOR)


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.name)
def test_every_third_party_import_is_declared(root):
    """Runtime code imports only what the package declares (extras count: optional features import lazily)."""
    project = _project(root)["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        declared |= {_requirement_name(r) for r in extra}
    undeclared = set()
    for path in _modules(root):
        tree = ast.parse(path.read_text())
        guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and _catches_import_error(t)
                   for stmt in t.body for n in ast.walk(stmt)}  # optional: used when installed
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top.startswith("nasplug"):
                    continue
                if DISTRIBUTION_OF.get(top, top).lower().replace("_", "-") not in declared:
                    undeclared.add(f"{top} ({path.relative_to(root)})")
    assert not undeclared, sorted(undeclared)


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {k.id for k in kinds if isinstance(k, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


@pytest.mark.parametrize("root", PROJECTS[1:], ids=lambda p: p.name)
def test_plugin_readme_works_as_a_package_index_page(root):
    """A plugin's README becomes its package index page: links and images absolute, install from the index.

    (The repository's own README stays relative: it shows the committed pictures in a checkout.)
    """
    text = (root / _project(root)["project"]["readme"]).read_text()
    relative = re.findall(r"\]\((?!https?://|#|mailto:)([^)]+)\)", text)
    assert not relative, relative
    assert f"pip install {_project(root)['project']['name']}" in text
