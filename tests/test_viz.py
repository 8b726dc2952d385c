"""Pictures that explain themselves: legends, every decision, one-epoch runs, layered cells, running searches."""

import json
import shutil

import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nasplug import SearchConfig, SearchRun, registry  # noqa: E402
from nasplug.cli import main  # noqa: E402
from nasplug.viz import architecture_figure, distribution_figure  # noqa: E402
from nasplug.viz.cells import label_outline, layered_positions  # noqa: E402

NB201 = dict(space="nb201", space_options={"C": 4, "N": 1}, strategy="random", data="digits", epochs=2,
             steps_per_epoch=2, optimizer_options={"num_candidates": 2})


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("viz") / "run"
    SearchRun(SearchConfig(**NB201), run_dir=run_dir).run()
    return run_dir


def _history(space, epochs: int):
    """Histories shaped like metrics.jsonl, probabilities drifting from uniform towards the first choice."""
    rows = []
    for e in range(epochs):
        dist = {}
        for d in space.decisions:
            n = len(d.choices)
            first = 1 / n + (1 - 1 / n) * e / max(1, epochs)
            dist[d.name] = [first] + [(1 - first) / (n - 1)] * (n - 1) if n > 1 else [1.0]
        rows.append({"epoch": e, "distribution": dist})
    return rows


def _legend_texts(fig):
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return set(texts)


def _panels(fig):
    return [ax for ax in fig.axes if ax.axison and ax.get_title()]


def test_distribution_of_a_real_run_names_every_op_and_labels_its_axes(nb201_run):
    space = registry.get("space", "nb201", C=4, N=1)
    history = [json.loads(line) for line in (nb201_run / "metrics.jsonl").read_text().splitlines()]
    fig = distribution_figure(history, space)
    assert _legend_texts(fig) >= set(space.decisions[0].choices)
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == [d.name for d in space.decisions]
    assert all(ax.get_xlabel() == "epoch" for ax in panels)
    assert panels[0].get_ylabel() == "probability"
    ticks = [t for t in panels[0].get_xticks() if panels[0].get_xlim()[0] <= t <= panels[0].get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_every_decision_is_drawn_when_there_are_more_than_thirty():
    space = registry.get("space", "darts", steps=5)
    assert len(space.decisions) == 40
    fig = distribution_figure(_history(space, 3), space)
    assert [ax.get_title() for ax in _panels(fig)] == [d.name for d in space.decisions]
    assert _legend_texts(fig) >= set(space.decisions[0].choices)
    plt.close(fig)


def test_a_one_epoch_history_draws_bars_per_decision():
    space = registry.get("space", "nb201", C=4, N=1)
    fig = distribution_figure(_history(space, 1), space)
    for ax in _panels(fig):
        heights = sorted(p.get_height() for p in ax.patches)
        assert len(heights) == 5 and heights[-1] == pytest.approx(0.2)
    plt.close(fig)


# DARTS (2nd and 1st order) cells as published, and the cells a 3-epoch GDAS search on digits derived
# (`nasplug search --space darts --space-option C=4 --space-option layers=2 --strategy gdas --epochs 3 ...`)
DARTS_CELLS = {
    "darts-v2": {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
                            ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
                 "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
                            ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]]},
    "darts-v1": {"normal": [["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["skip_connect", 0], ["sep_conv_3x3", 1],
                            ["skip_connect", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["skip_connect", 2]],
                 "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 0],
                            ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["avg_pool_3x3", 0]]},
    "gdas-digits": {"normal": [["dil_conv_5x5", 0], ["sep_conv_5x5", 1], ["sep_conv_5x5", 0], ["max_pool_3x3", 1],
                               ["sep_conv_5x5", 1], ["dil_conv_5x5", 2], ["sep_conv_5x5", 3], ["max_pool_3x3", 4]],
                    "reduce": [["sep_conv_5x5", 0], ["sep_conv_3x3", 1], ["max_pool_3x3", 1], ["dil_conv_5x5", 2],
                               ["dil_conv_3x3", 0], ["sep_conv_5x5", 3], ["dil_conv_5x5", 2], ["avg_pool_3x3", 4]]},
}


@pytest.mark.parametrize("name", sorted(DARTS_CELLS))
def test_darts_cells_are_layered_with_labels_that_overlap_nothing(name):
    space = registry.get("space", "darts")
    genotype = space.genotype_from_json(DARTS_CELLS[name])
    graphs = space.cell_graphs(genotype)
    fig = architecture_figure(space, genotype, str(genotype))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width and title.y1 <= fig.bbox.height  # not clipped
    for ax, (cell, edges) in zip(fig.axes, graphs.items()):
        pos = layered_positions(edges)
        sources = {s for s, _, _ in edges} - {d for _, d, _ in edges}
        assert {pos[n][0] for n in sources} == {0.0}  # inputs on the left
        assert pos[max(pos)][0] == max(x for x, _ in pos.values())  # the output on the right
        labels = [t for t in ax.texts if t.get_bbox_patch() is not None]
        assert sorted(t.get_text() for t in labels) == sorted(op for _, _, op in edges if op != "concat")
        outlines = [label_outline(t, renderer) for t in labels]
        for i in range(len(outlines)):
            for j in range(i):
                assert not outlines[i].intersects_path(outlines[j], filled=True), \
                    f"{cell}: labels {labels[i].get_text()!r} and {labels[j].get_text()!r} overlap"
    plt.close(fig)


def test_show_draws_a_running_search(nb201_run, tmp_path, capsys):
    running = tmp_path / "running"
    shutil.copytree(nb201_run, running)
    (running / "genotype.json").unlink()
    for png in running.glob("*.png"):
        png.unlink()
    assert main(["show", str(running)]) == 0
    out = capsys.readouterr().out
    assert "no genotype.json yet" in out
    assert (running / "cells.png").stat().st_size > 1000
    assert (running / "distribution.png").stat().st_size > 1000
