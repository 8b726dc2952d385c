"""The architecture distribution over a search: one panel per decision, every decision drawn.

Each panel stacks the probabilities of a decision's choices over epochs
(integer epoch ticks, probability on the y axis); a run of one epoch gets
bars instead of a stack, since a stack over one point is invisible.  Each
op name has one colour across the figure, so one legend at the top names
them all (DARTS's eight ops, or a per-layer space's k3/k5/k7, e3/e6,
keep/skip); only past 20 names, where colours would repeat, does each
panel carry its own legend.  Panels follow the space's decision order and
the grid grows with the number of decisions rather than cutting any.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

COLUMNS = 6


def choice_names(history: Sequence[Mapping], space=None) -> dict[str, tuple[str, ...]]:
    """Decision -> its choices' labels (from the space when known, else ``choice 0``, ``choice 1``...)."""
    names = {}
    distribution = history[-1]["distribution"]
    order = [d.name for d in space.decisions if d.name in distribution] if space is not None else []
    order += [name for name in distribution if name not in order]
    for decision in order:
        probs = distribution[decision]
        labels = None
        if space is not None:
            try:
                labels = tuple(space.decision(decision).choices)
            except Exception:  # a decision the space no longer has: fall back to indices
                labels = None
        if labels is None or len(labels) != len(probs):
            labels = tuple(f"choice {k}" for k in range(len(probs)))
        names[decision] = labels
    return names


def distribution_figure(history: Sequence[Mapping], space=None):
    """The figure for ``history`` (``metrics.jsonl`` rows with a ``distribution``)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    history = [h for h in history if "distribution" in h]
    labels = choice_names(history, space)
    decisions = list(labels)
    distinct = list(dict.fromkeys(op for ops in labels.values() for op in ops))
    one_legend = len(distinct) <= 20
    same_ops = len(set(labels.values())) == 1
    palette = plt.get_cmap("tab10" if len(distinct) <= 10 else "tab20")
    colour_of = {op: palette(k % palette.N) for k, op in enumerate(distinct)}  # one colour per op name
    cols = min(COLUMNS, len(decisions))
    rows = math.ceil(len(decisions) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, (2.0 if rows <= 5 else 1.6) * rows + 0.9), squeeze=False,
                             sharey=True, layout="constrained")
    epochs = [int(h["epoch"]) + 1 for h in history]
    for ax, name in zip(axes.flat, decisions):
        ops = labels[name]
        colours = [colour_of[op] for op in ops]
        series = [[h["distribution"][name][k] for h in history] for k in range(len(ops))]
        if len(history) == 1:
            ax.bar(range(len(ops)), [s[0] for s in series], color=colours)
            ax.set_xticks(range(len(ops)))
            ax.set_xticklabels([] if same_ops else ops, fontsize=6)
            ax.set_xlabel(f"choice (epoch {epochs[0]})", fontsize=7)
        else:
            ax.stackplot(epochs, series, colors=colours, labels=ops)
            ax.set_xlim(epochs[0], epochs[-1])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
            ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
        if not one_legend:
            ax.legend([Patch(color=colour_of[op]) for op in ops], ops, fontsize=5.5, loc="upper left",
                      framealpha=0.7, handlelength=1.0, borderpad=0.3, labelspacing=0.2)
    for ax in axes[:, 0]:
        ax.set_ylabel("probability", fontsize=7)
    for ax in list(axes.flat)[len(decisions):]:
        ax.axis("off")
    heading = (f"architecture distribution: {len(decisions)} decisions, "
               f"{'probabilities after the one epoch' if len(history) == 1 else 'stacked probabilities per epoch'}")
    if one_legend:  # the legend carries the heading: constrained layout would stack a suptitle over it
        fig.legend([Patch(color=colour_of[op]) for op in distinct], distinct, loc="outside upper center",
                   ncol=min(len(distinct), 10),
                   fontsize=8, frameon=False, title=heading, title_fontsize=9)
    else:
        fig.suptitle(heading, fontsize=9)
    return fig
