"""Pictures of a run: ``cells.png`` (the architecture) and ``distribution.png`` (the search's probabilities).

Matplotlib is an optional dependency (``pip install "nasplug[plot]"``);
without it ``nasplug show`` still prints the genotype and says how to get
pictures.  A search still running (no ``genotype.json`` yet) is drawn from
what exists: the genotype derived at its last epoch and the distribution so far.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from nasplug import registry
from nasplug.errors import NasplugError, RunDirError
from nasplug.rundir import CONFIG, GENOTYPE, METRICS, RESULT, not_a_run_dir, read_json, read_jsonl
from nasplug.viz.cells import architecture_figure, cells_figure, draw_cell, layered_positions, table_figure
from nasplug.viz.distribution import distribution_figure

DPI = 100

__all__ = ["architecture_figure", "cells_figure", "distribution_figure", "draw_cell", "layered_positions",
           "save_figure", "show_run", "table_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def current_genotype(space, history: list[Mapping[str, Any]]):
    """The genotype a running search derived at its last epoch (or, failing that, the space's rule on its distribution)."""
    for record in reversed(history):
        if record.get("genotype"):
            try:
                return space.genotype_from_json(record["genotype"])
            except Exception:  # an older string form: derive instead
                break
    if history and "distribution" in history[-1]:
        return space.derive(history[-1]["distribution"])
    return None


def show_run(run_dir: Path, out: Path | None = None) -> Iterable[str]:
    """Lines describing the run; writes ``cells.png`` and ``distribution.png`` when matplotlib is there."""
    out = out or run_dir
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not (run_dir / CONFIG).exists():
        raise not_a_run_dir(run_dir)
    config = read_json(run_dir / CONFIG, "the run's configuration")
    if not ("train" in config and "genotype" in config):
        from nasplug.search.run import load_search_config

        load_search_config(run_dir)  # one-line errors for a config.json of the wrong shape
    genotype_path = run_dir / GENOTYPE
    history = read_jsonl(run_dir / METRICS, torn_tail_ok=True)
    yield f"run directory: {run_dir}"
    if "train" in config and "genotype" in config:
        yield from _describe_training(run_dir, config, history)
        return
    yield f"epochs recorded: {len(history)}" + ("" if history else " (no epoch has finished yet)")
    if history:
        last = history[-1]
        summary = {k: round(v, 4) for k, v in last.items() if isinstance(v, float)}
        yield f"last epoch: {json.dumps(summary, sort_keys=True)}"
    finished = genotype_path.exists()
    if finished:
        epochs = config.get("epochs")
        if isinstance(epochs, int) and len(history) != epochs:
            raise RunDirError(f"{run_dir / METRICS}: records {len(history)} epoch(s) but the finished search ran "
                              f"{epochs}; the file was truncated or edited (`nasplug resume {run_dir}` rewrites it "
                              "from the checkpoint)")
        record = read_json(genotype_path, "the genotype record")
        if not isinstance(record.get("space"), str) or "genotype" not in record:
            raise RunDirError(f"{genotype_path}: a genotype record needs 'space' (a name) and 'genotype'")
        yield f"genotype: {record.get('string', record['genotype'])}"
    else:
        yield "no genotype.json yet (the search is running or was stopped; `nasplug resume` continues it)"
        if history and history[-1].get("genotype"):
            yield f"current derived genotype: {history[-1]['genotype']}"
        record = config
        if not isinstance(record.get("space"), str):
            return
    try:
        space = registry.get("space", record["space"], **dict(record.get("space_options") or {}))
        genotype = space.genotype_from_json(record["genotype"]) if finished else current_genotype(space, history)
    except (NasplugError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        where = genotype_path if finished else run_dir / METRICS
        raise RunDirError(f"{where}: the genotype does not fit space {record['space']!r}: {exc}") from None
    if importlib.util.find_spec("matplotlib") is None:
        yield "install matplotlib (pip install 'nasplug[plot]') for cells.png and distribution.png"
        return
    _pyplot()
    if genotype is not None:
        title = str(genotype) if finished else f"epoch {len(history)} (running): {genotype}"
        yield _drawn(lambda: architecture_figure(space, genotype, title), out / "cells.png", "cells drawn", run_dir)
    if any("distribution" in h for h in history):
        yield _drawn(lambda: distribution_figure(history, space), out / "distribution.png", "distribution plot",
                     run_dir)


def _drawn(figure, path: Path, what: str, run_dir: Path) -> str:
    """Save a picture; a folder that cannot be written (a read-only run) is said in the line, not a traceback."""
    import matplotlib.pyplot as plt

    drawn = figure()
    try:
        save_figure(drawn, path)
    except OSError as exc:
        plt.close(drawn)
        return (f"{path.name} not drawn: cannot write {path} ({exc.strerror or exc}); `nasplug show {run_dir} "
                "--out DIR` draws it elsewhere")
    return f"{what}: {path}"


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
