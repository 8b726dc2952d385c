"""Pictures of a run: the derived cell(s) as graphs and the architecture distribution over epochs.

Matplotlib is an optional dependency (``pip install nasplug[plot]``); without
it ``nasplug show`` still prints the genotype and says how to get pictures.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Iterable

from nasplug import registry
from nasplug.errors import NasplugError, RunDirError
from nasplug.rundir import CONFIG, GENOTYPE, METRICS, RESULT, read_json, read_jsonl


def _layout(nodes: list[int]) -> dict[int, tuple[float, float]]:
    n = len(nodes)
    return {node: (i / max(1, n - 1), 0.5 + 0.35 * math.sin(i * 2.4)) for i, node in enumerate(nodes)}


def draw_cells(graphs: dict[str, list[tuple[int, int, str]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(graphs), figsize=(6 * len(graphs), 4.5), squeeze=False)
    for ax, (name, edges) in zip(axes[0], graphs.items()):
        nodes = sorted({e[0] for e in edges} | {e[1] for e in edges})
        pos = _layout(nodes)
        for src, dst, op in edges:
            (x0, y0), (x1, y1) = pos[src], pos[dst]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle="->", color="tab:blue", shrinkA=14, shrinkB=14,
                                        connectionstyle="arc3,rad=0.15"))
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, op, fontsize=8, ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.8"))
        for node, (x, y) in pos.items():
            ax.scatter([x], [y], s=600, c="tab:orange", zorder=3)
            ax.text(x, y, str(node), ha="center", va="center", zorder=4, fontweight="bold")
        ax.set_title(name)
        ax.set_xlim(-0.1, 1.1)
        ax.set_ylim(0.0, 1.0)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_distribution(history: list[dict], path: Path, max_panels: int = 30) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(history[0]["distribution"])[:max_panels]
    cols = min(6, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    epochs = [h["epoch"] + 1 for h in history]
    for ax, name in zip(axes.flat, names):
        series = list(zip(*[h["distribution"][name] for h in history]))
        ax.stackplot(epochs, series)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("architecture distribution per decision over epochs (stacked probabilities)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def show_run(run_dir: Path, out: Path | None = None) -> Iterable[str]:
    """Lines describing the run; writes ``cells.png`` and ``distribution.png`` when matplotlib is there."""
    out = out or run_dir
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not (run_dir / CONFIG).exists():
        raise RunDirError(f"{run_dir} is not a nasplug run directory (no {CONFIG})")
    config = read_json(run_dir / CONFIG, "the run's configuration")
    if not ("train" in config and "genotype" in config):
        from nasplug.search.run import load_search_config

        config = load_search_config(run_dir).to_dict()  # one-line errors for a config of the wrong shape
    genotype_path = run_dir / GENOTYPE
    history = read_jsonl(run_dir / METRICS)
    yield f"run directory: {run_dir}"
    if "train" in config and "genotype" in config:
        yield from _describe_training(run_dir, config, history)
        return
    yield f"epochs recorded: {len(history)}"
    if history:
        last = history[-1]
        summary = {k: round(v, 4) for k, v in last.items() if isinstance(v, float)}
        yield f"last epoch: {json.dumps(summary, sort_keys=True)}"
    if not genotype_path.exists():
        yield "no genotype.json yet (the search has not finished; `nasplug resume` continues it)"
        if history and history[-1].get("genotype"):
            yield f"current derived genotype: {history[-1]['genotype']}"
        return
    epochs = config.get("epochs")
    if isinstance(epochs, int) and len(history) != epochs:
        raise RunDirError(f"{run_dir / METRICS}: records {len(history)} epoch(s) but the finished search ran "
                          f"{epochs}; the file was truncated or edited (`nasplug resume {run_dir}` rewrites it "
                          "from the checkpoint)")
    record = read_json(genotype_path, "the genotype record")
    if not isinstance(record.get("space"), str) or "genotype" not in record:
        raise RunDirError(f"{genotype_path}: a genotype record needs 'space' (a name) and 'genotype'")
    yield f"genotype: {record.get('string', record['genotype'])}"
    try:
        space = registry.get("space", record["space"], **dict(record.get("space_options") or {}))
        genotype = space.genotype_from_json(record["genotype"])
    except (NasplugError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise RunDirError(f"{genotype_path}: the genotype does not fit space {record['space']!r}: {exc}") from None
    if importlib.util.find_spec("matplotlib") is None:
        yield "install matplotlib (pip install 'nasplug[plot]') for cells.png and distribution.png"
        return
    graphs = space.cell_graphs(genotype) if hasattr(space, "cell_graphs") else {
        "choices": [(i, i + 1, f"{k}={space.decision(k).choices[v]}")
                    for i, (k, v) in enumerate(space.choices_from_genotype(genotype).items())]}
    out.mkdir(parents=True, exist_ok=True)
    draw_cells(graphs, out / "cells.png", record.get("string", ""))
    yield f"cells drawn: {out / 'cells.png'}"
    if history and "distribution" in history[0]:
        draw_distribution(history, out / "distribution.png")
        yield f"distribution plot: {out / 'distribution.png'}"


def _describe_training(run_dir: Path, config: dict, history: list[dict]) -> Iterable[str]:
    """``nasplug show`` of a retraining run: its genotype, progress and, once finished, its test result."""
    train, record = config["train"], config["genotype"]
    epochs = train.get("epochs") if isinstance(train, dict) else None
    yield f"retraining run of a {record.get('space', '?') if isinstance(record, dict) else '?'} genotype: " \
          f"{record.get('string', record.get('genotype')) if isinstance(record, dict) else record}"
    yield f"epochs trained: {len(history)}/{epochs}"
    if history:
        last = history[-1]
        yield "last epoch: " + json.dumps({k: round(v, 4) for k, v in last.items() if isinstance(v, float)},
                                          sort_keys=True)
    if (run_dir / RESULT).exists():
        result = read_json(run_dir / RESULT, "the retraining result")
        yield (f"finished: test accuracy {result.get('test_accuracy')}, parameters {result.get('parameters')}, "
               f"MACs {result.get('macs')}")
    else:
        yield f"not finished; `nasplug resume {run_dir}` continues it"
