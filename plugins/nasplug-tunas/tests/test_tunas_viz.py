"""A mobile space's architecture is drawn as a per-layer table, not as a chain of 60 nodes."""

import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.table import Table  # noqa: E402

import torch  # noqa: E402

from nasplug import registry  # noqa: E402
from nasplug.viz import architecture_figure, distribution_figure  # noqa: E402


@pytest.mark.parametrize("name", ["proxylessnas", "mobilenetv3-like"])
def test_mobile_architecture_is_a_table_with_a_row_per_layer(name):
    space = registry.get("space", name)
    choices = space.sample(torch.Generator().manual_seed(0))
    genotype = space.genotype_from_choices(choices)
    fig = architecture_figure(space, genotype, str(genotype))
    tables = [a for ax in fig.axes for a in ax.get_children() if isinstance(a, Table)]
    assert tables, "a mobile space must be drawn as a table"
    groups = list(dict.fromkeys(d.name.split(":")[0] for d in space.decisions))
    rows = [cell.get_text().get_text() for t in tables for (r, c), cell in t.get_celld().items() if c == -1]
    assert sorted(rows) == sorted(groups)  # one row per layer (and per block's filters), none cut
    texts = {cell.get_text().get_text() for t in tables for cell in t.get_celld().values()}
    assert {"kernel", "expansion"} <= texts
    assert not any(type(p).__name__ == "FancyArrowPatch" for ax in fig.axes for p in ax.patches)  # no chain
    plt.close(fig)


def test_mobile_distribution_draws_every_decision_with_a_legend_of_every_choice():
    space = registry.get("space", "proxylessnas")
    history = [{"epoch": e, "distribution": {d.name: [1 / len(d.choices)] * len(d.choices)
                                             for d in space.decisions}} for e in range(2)]
    fig = distribution_figure(history, space)
    titles = [ax.get_title() for ax in fig.axes if ax.axison and ax.get_title()]
    assert titles == [d.name for d in space.decisions] and len(titles) > 30
    legend = {t.get_text() for lg in fig.legends for t in lg.get_texts()}
    assert legend == {c for d in space.decisions for c in d.choices}
    plt.close(fig)
