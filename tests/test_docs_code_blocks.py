"""Every fenced code block of README.md, CONTRIBUTING.md and the plugin READMEs runs (or says why it does not).

* ``python`` blocks are executed, each in its own namespace, in one child process whose working directory is a
  temporary folder beside a link to the shared data (``../shared``), with long settings made small
  (:data:`SMALL`);
* ``toml`` blocks are parsed and validated by the loader that reads them (sweeps, search and train configs,
  a plugin's ``pyproject.toml``);
* ``bash`` blocks run in a temporary folder with the same small settings;
* a block whose fence has ``<!-- not run: REASON -->`` on the line before is skipped, and the reason must say
  something.  Fences without a language (directory trees, output) are text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted(REPO.glob("plugins/*/README.md")),
        *sorted(REPO.glob("examples/*/README.md"))]
LANGUAGES = {"python": "python", "py": "python", "toml": "toml", "bash": "bash", "sh": "bash", "shell": "bash"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->")
#: long settings made small, so the blocks run in seconds (the commands and calls stay the documented ones)
SMALL = [(re.compile(r"\bepochs=\d+"), "epochs=1"), (re.compile(r"--epochs \d+"), "--epochs 1"),
         (re.compile(r"\bbudget=\d+"), "budget=20"), (re.compile(r"(TabularRun\(table, \"reinforce\", )\d+"), r"\g<1>20"),
         (re.compile(r"\"C\": \d+, \"N\": \d+"), '"C": 4, "N": 1'), (re.compile(r"C=\d+"), "C=4"),
         (re.compile(r"N=\d+"), "N=1")]


def _blocks():
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
            if not fence:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            language = LANGUAGES.get(fence.group(2).lower())
            marker = NOT_RUN.search(lines[i - 1]) if i > 0 else None
            if language is not None:
                body = textwrap.dedent("\n".join(lines[i + 1:end]))
                yield pytest.param(language, body, marker.group(1) if marker else None,
                                   id=f"{doc.relative_to(REPO)}:{i + 1}:{language}")
            i = end + 1


BLOCKS = list(_blocks())


def _small(code: str) -> str:
    for pattern, replacement in SMALL:
        code = pattern.sub(replacement, code)
    return code


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("docs")
    (base / "work").mkdir()
    shared = REPO.parent / "shared"
    if shared.exists():
        (base / "shared").symlink_to(shared)
    return base / "work"


@pytest.fixture(scope="module")
def python_results(workdir) -> dict[str, str | None]:
    """Every runnable python block executed in one child process: block id -> None or its error's last line."""
    blocks = {p.id: _small(p.values[1]) for p in BLOCKS if p.values[0] == "python" and p.values[2] is None}
    runner = textwrap.dedent("""
        import importlib, json, sys, traceback
        blocks = json.load(open(sys.argv[1]))
        sys.path.insert(0, ".")
        out = {}
        for index, (name, code) in enumerate(blocks.items()):
            try:  # each block is a module of its own file, as a user's script is: its classes are importable
                open(f"docs_block_{index}.py", "w").write(code)
                importlib.import_module(f"docs_block_{index}")
                out[name] = None
            except BaseException:
                out[name] = traceback.format_exc(limit=3)[-1500:]
        json.dump(out, open(sys.argv[2], "w"))
    """)
    (workdir / "blocks.json").write_text(json.dumps(blocks))
    (workdir / "runner.py").write_text(runner)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "runner.py", "blocks.json", "results.json"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / "results.json").read_text())


def _validate_toml(body: str, tmp_path: Path) -> None:
    from nasplug.config import TrainConfig
    from nasplug.search.run import merged_config
    from nasplug.sweep import load_sweep
    from nasplug.sweep_tune import is_tune_file, load_tune_sweep

    data = tomllib.loads(body)
    if "project" in data:  # a plugin's pyproject: a name and an entry point in the nasplug group
        assert data["project"]["name"].startswith("nasplug-")
        assert data["project"]["entry-points"]["nasplug"]
        return
    path = tmp_path / "block.toml"
    path.write_text(body)
    if "sweep" in data or "grid" in data or is_tune_file(data):
        (load_tune_sweep if is_tune_file(data) else load_sweep)(path)
        return
    if "search" in data:
        merged_config(data["search"])
    if "train" in data and "search" not in data:
        TrainConfig.from_dict(data["train"])
    assert {"search", "train"} & set(data), f"a toml block of an unknown kind: tables {sorted(data)}"


@pytest.mark.parametrize("language, body, reason", BLOCKS)
def test_code_block_runs(language, body, reason, request, tmp_path, workdir):
    if reason is not None:
        assert len(reason.split()) >= 2, "a not-run marker must give its reason"
        pytest.skip(f"not run: {reason}")
    block = request.node.callspec.id
    if language == "toml":
        _validate_toml(body, tmp_path)
    elif language == "python":
        if "../shared" in body and not (workdir.parent / "shared").exists():
            pytest.skip("needs the shared data folder beside the repository")
        error = request.getfixturevalue("python_results")[block]
        assert error is None, error
    else:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", _small(body)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_blocks_are_found():
    ids = [p.id for p in BLOCKS]
    assert any(i.startswith("README.md") for i in ids) and any(i.startswith("CONTRIBUTING.md") for i in ids)
    assert any("plugins/nasplug-nb201/README.md" in i for i in ids)


def test_the_readme_example_search_toml_runs(tmp_path):
    """``nasplug search --config examples/search.toml`` (the README's line), with small flags on top."""
    from nasplug.cli import main

    assert main(["search", "--config", str(REPO / "examples" / "search.toml"), "--epochs", "1",
                 "--steps-per-epoch", "2", "--space-option", "C=4", "--space-option", "N=1", "--eval-batches", "1",
                 "--run-dir", str(tmp_path / "run"), "--quiet"]) == 0


def test_the_package_readme_links_and_images_are_absolute():
    """README.md is the kernel's package-index page, where a relative link or image is broken."""
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text) + re.findall(r"<img[^>]*src=\"([^\"]+)\"", text)
    relative = [t for t in targets if not re.match(r"^(https?://|mailto:|#)", t)]
    assert targets and not relative, relative


def test_the_readmes_torch_requirement_matches_the_metadata():
    """The README states the torch requirement the package metadata declares (no cap it does not have)."""
    metadata = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_spec = next(d for d in metadata if re.match(r"^torch\b(?!vision)", d))
    text = (REPO / "README.md").read_text()
    assert f"`{torch_spec}`" in text
    for cap in re.findall(r"torch[^\n]*?`(<=?[\d.]+)`", text):
        assert cap in torch_spec, f"README says torch {cap}, the metadata says {torch_spec}"


def test_the_set_up_lines_install_every_plugin_editable():
    """``echo -e "$p"`` swallows its own ``-e``: the plugins were installed non-editable.  Every set-up line's
    loop prints ``-e PATH`` for pip, as bash runs it."""
    for doc in (REPO / "README.md", REPO / "CONTRIBUTING.md"):
        for line in doc.read_text().splitlines():
            loop = re.search(r"\$\((for p in [^)]*done)\)", line)
            if loop:
                out = subprocess.run(["bash", "-c", loop.group(1)], cwd=REPO, capture_output=True, text=True).stdout
                words = out.split()
                assert words and words[0::2] == ["-e"] * (len(words) // 2), f"{doc.name}: {out!r}"
