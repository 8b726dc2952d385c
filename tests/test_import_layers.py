"""The kernel's import graph: no circle, and each module imports only from its layer or below.

The layers are the picture in CONTRIBUTING.md ("The kernel's layers"), read here, so the documentation and the
check cannot drift apart.  The graph is grimp's, TYPE_CHECKING imports left out (they never run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

ROOT = Path(__file__).resolve().parents[1]
WHOLE_PACKAGES = ("viz", "testing")  # a name in the picture that stands for everything under it


def picture_layers(text: str) -> list[tuple[str, list[str]]]:
    """The layers of the picture, top first: (name, modules); a line that starts with spaces continues one."""
    block = text.split("### The kernel's layers", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    layers: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        words = line.split()
        if line.startswith(" "):
            layers[-1][1].extend(words)
        else:
            layers.append((words[0], words[1:]))
    return layers


def layer_of_module(layers) -> dict[str, int]:
    """module -> its layer's height (0 the bottom) for every module of the kernel."""
    graph = grimp.build_graph("nasplug", exclude_type_checking_imports=True, cache_dir=None)
    named = {}
    for height, (_, modules) in enumerate(reversed(layers)):
        for name in modules:
            full = "nasplug" if name == "nasplug" else f"nasplug.{name}"
            assert full not in named, f"{name} is in two layers of the picture"
            named[full] = height
    placed = {}
    for module in graph.modules:
        owner = next((m for m in named if module == m or (m.split(".")[-1] in WHOLE_PACKAGES
                                                          and module.startswith(m + "."))), None)
        placed[module] = None if owner is None else named[owner]
    return placed, graph


def strongly_connected(graph, modules) -> list[list[str]]:
    """Tarjan's components of size > 1 (the import circles)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def kernel():
    layers = picture_layers((ROOT / "CONTRIBUTING.md").read_text())
    placed, graph = layer_of_module(layers)
    return layers, placed, graph


def test_the_picture_places_every_module(kernel):
    _, placed, _ = kernel
    missing = sorted(m for m, height in placed.items() if height is None)
    assert not missing, f"add these modules to the picture in CONTRIBUTING.md: {missing}"


def test_the_import_graph_has_no_circle(kernel):
    _, placed, graph = kernel
    assert strongly_connected(graph, placed) == []


def upward_imports(layers, placed, graph) -> list[str]:
    names = [name for name, _ in reversed(layers)]
    upward = []
    for module, height in placed.items():
        for imported in graph.find_modules_directly_imported_by(module):
            if placed.get(imported) is not None and height is not None and placed[imported] > height:
                upward.append(f"{module} ({names[height]}) imports {imported} ({names[placed[imported]]})")
    return sorted(upward)


def test_no_module_imports_from_a_layer_above_its_own(kernel):
    upward = upward_imports(*kernel)
    assert not upward, "\n".join(upward)


def test_the_contracts_import_nothing_from_the_search_loop(kernel):
    _, _, graph = kernel
    imported = graph.find_modules_directly_imported_by("nasplug.components")
    assert not {m for m in imported if m.startswith("nasplug.search")}
    assert graph.find_shortest_chain("nasplug.components", "nasplug.search.run") is None


def test_the_check_catches_a_circle_and_an_upward_import(kernel):
    """The checks can fail: a graph with a planted circle and a planted upward edge is caught."""
    layers, placed, _ = kernel
    planted = grimp.build_graph("nasplug", exclude_type_checking_imports=True, cache_dir=None)
    planted.add_import(importer="nasplug.components", imported="nasplug.search.run")
    assert any("nasplug.components" in c for c in strongly_connected(planted, placed))
    assert "nasplug.components (contracts) imports nasplug.search.run (loops)" in upward_imports(layers, placed, planted)
