"""A user with a CPU and an hour asks which NAS-Bench-201 search to run: table accuracy against CPU seconds.

    python benchmarks/time_to_quality.py                          # every row, seeds 0-9
    python benchmarks/time_to_quality.py --rows zerocost --seeds 100-109   # recheck on fresh seeds
    python benchmarks/time_to_quality.py --report                 # print what has finished; run nothing

Rows (all on the ``nb201`` space at C=8, N=1, CIFAR-10 JPEGs at 16x16 from the ``imagefolder`` at
``--data-root`` through the project's dataset code, one torch thread):

* the training-free searches of ``nasplug-zerocost`` (``zerocost``: the vote of naswot, synflow and
  jacob_cov over 200 cells; ``naswot``: 100 cells; ``tenas``: 100 cells), each run through
  ``SearchRun`` exactly as ``Pipeline(strategy=...)`` runs it.  Anytime: the answer after each scored
  cell, at the CPU seconds spent until then (data loading and set-up included);
* ``rs-train``: random search that trains each sampled cell briefly (``--rs-epochs`` epochs of SGD on
  the training images less a held-out 1,000, kept by its accuracy on those 1,000), the baseline a
  practitioner would try; anytime after each trained cell;
* the supernet searches whose trials ``benchmarks/nb201_search.py`` wrote under ``--supernet-out``
  (``<budget>/<strategy>/seed<k>/metrics.jsonl``): the epoch's derived cell at the epoch's cumulative
  ``cpu_seconds`` (or, where a trial lacks it, its wall ``seconds``, flagged in the output).

The NAS-Bench-201 table (``accuracy.csv``, CIFAR-10 test accuracy) scores the answers only; no search
reads it.  Each trial writes ``OUT/<row>/seed<k>/result.json`` when it ends, so a rerun skips finished
trials.  Prints per row: seeds, mean, std, worst seed, bootstrap 95% interval of the mean, CPU minutes
per search, and ``cpu_seconds_to`` 90/91/92/93 (the CPU seconds after which the mean over seeds of the
anytime accuracy first reaches the level; null where it never does); draws the anytime curves (mean and
worst seed) to ``docs/pictures/time_to_quality.png``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TRAINING_FREE = ("zerocost", "naswot", "tenas")
LEVELS = (90.0, 91.0, 92.0, 93.0)
SPACE_OPTIONS = {"C": 8, "N": 1}


def parse_seeds(text: str) -> list[int]:
    """``0-9`` or ``0,3,7`` or ``100-104,200``."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    return seeds


def table_accuracy(table, genotype) -> float:
    return float(table.accuracy_column("cifar10")[table.index(str(genotype))])


# -- training-free rows -------------------------------------------------------------------------------------

def run_training_free(row: str, seed: int, args, table) -> dict:
    import torch

    from nasplug.search.run import SearchRun, merged_config

    start = time.process_time()
    # the search scores one batch of 64 images: decoding 1,000 of the 10,000 JPEGs is all it needs (the loop's
    # own batches, never trained on, are 8 images so that 500 training images still give >= 20 steps an epoch)
    data_options = {"root": str(args.data_root), "size": args.size, "limit_train": 1000, "limit_test": 100}
    config = merged_config({"space": "nb201", "space_options": SPACE_OPTIONS, "strategy": row, "batch_size": 8,
                            "data": "imagefolder", "data_options": data_options, "seed": seed, "threads": 1})
    run = SearchRun(config, run_dir=args.out / row / f"seed{seed}" / "run", overwrite=True)
    setup = time.process_time() - start
    result = run.run()
    total = time.process_time() - start
    optimizer = run.optimizer
    curve = [(setup + cpu, table_accuracy(table, run.space.genotype_from_choices(optimizer.best_after(k + 1))))
             for k, cpu in enumerate(optimizer.cpu_seconds)]
    del torch
    return {"row": row, "seed": seed, "genotype": str(result.genotype),
            "accuracy": table_accuracy(table, result.genotype), "cpu_seconds": total,
            "cells": len(optimizer.history), "curve": curve, "clock": "process CPU"}


# -- random search with brief training -----------------------------------------------------------------------

def train_briefly(net, train, valid, epochs: int, seed: int) -> float:
    """SGD (lr 0.05 cosine, momentum 0.9, Nesterov, wd 5e-4, batch 64) for ``epochs``; validation accuracy."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(train) / 64)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for b in range(steps_per_epoch):
            items = [train[int(i)] for i in order[b * 64:(b + 1) * 64]]
            x = torch.stack([i[0] for i in items])
            y = torch.tensor([int(i[1]) for i in items])
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
            schedule.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for b in range(0, len(valid[0]), 256):
            correct += int((net(valid[0][b:b + 256]).argmax(1) == valid[1][b:b + 256]).sum())
    return 100.0 * correct / len(valid[0])


def run_rs_train(seed: int, args, table) -> dict:
    import torch
    from torch.utils.data import Subset

    from nasplug.registry import default_registry
    from nasplug.spaces.nb201 import NB201Space

    start = time.process_time()
    torch.manual_seed(seed)
    data = default_registry().get("dataset", "imagefolder", root=str(args.data_root), size=args.size)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed)).tolist()
    held, rest = order[:1000], order[1000:]
    plain = data.train.with_augment(False)
    valid = (torch.stack([plain[i][0] for i in held]), torch.tensor([int(plain[i][1]) for i in held]))
    train = Subset(data.train, rest)
    space = NB201Space(**SPACE_OPTIONS)
    generator = torch.Generator().manual_seed(seed)
    best, curve = (-1.0, None), []
    for k in range(args.rs_cells):
        choices = space.sample(generator)
        torch.manual_seed(seed * 100003 + k)
        net = space.build_child(space.genotype_from_choices(choices), data.input_shape, data.num_classes)
        val = train_briefly(net, train, valid, args.rs_epochs, seed * 100003 + k)
        if val > best[0]:
            best = (val, space.genotype_from_choices(choices))
        curve.append((time.process_time() - start, table_accuracy(table, best[1])))
    return {"row": "rs-train", "seed": seed, "genotype": str(best[1]), "accuracy": table_accuracy(table, best[1]),
            "cpu_seconds": time.process_time() - start, "cells": args.rs_cells, "curve": curve,
            "clock": "process CPU", "epochs_per_cell": args.rs_epochs}


# -- supernet trials written by nb201_search.py ---------------------------------------------------------------

def _sibling(name: str):
    """A benchmark script beside this one, as a module (the benchmarks folder is not a package)."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def supernet_trials(root: Path) -> dict[str, list[dict]]:
    """``<budget>/<strategy>`` -> one result per finished trial, read as ``nb201_search.py --report`` reads it.

    The anytime curve is the trial's (:func:`nb201_search.anytime_points`): each epoch's derived cell at the
    epoch's cumulative process CPU seconds, then the final answer at the trial's CPU seconds (RSPS, which
    derives nothing per epoch, has only that point).  A trial without CPU seconds (from before they were
    recorded) is flagged with the wall clock.
    """
    read_trial = _sibling("nb201_search").read_trial
    rows: dict[str, list[dict]] = {}
    for metrics in sorted(root.glob("*/*/seed*/metrics.jsonl")) if root.is_dir() else []:
        trial = metrics.parent
        found = read_trial(trial)
        if found is None or math.isnan(found["accuracy"]["cifar10"]):
            continue  # unfinished: never averaged in
        curve, clock = found["anytime"], "process CPU"
        if not curve:
            curve, clock = [[found["seconds"], found["accuracy"]["cifar10"]]], "wall"
        name = f"{trial.parent.parent.name}/{trial.parent.name}"
        rows.setdefault(name, []).append({"row": name, "seed": int(trial.name[4:]), "accuracy": curve[-1][1],
                                          "cpu_seconds": curve[-1][0], "curve": [tuple(p) for p in curve],
                                          "clock": clock, "genotype": found["genotype"]})
    return rows


# -- statistics and report ------------------------------------------------------------------------------------

def bootstrap_interval(values, samples: int = 10000, seed: int = 0) -> tuple[float, float]:
    import numpy as np

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    means = np.random.default_rng(seed).choice(values, (samples, len(values))).mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def anytime(results: list[dict], grid) -> tuple[list[float | None], list[float | None]]:
    """Mean and worst-seed accuracy of the answers at each CPU time of ``grid`` (None before every seed answers)."""
    import numpy as np

    def at(curve, t):
        done = [acc for cpu, acc in curve if cpu <= t]
        return done[-1] if done else None

    means, worsts = [], []
    for t in grid:
        values = [at(r["curve"], t) for r in results]
        ok = all(v is not None for v in values)
        means.append(float(np.mean(values)) if ok else None)
        worsts.append(float(np.min(values)) if ok else None)
    return means, worsts


def summarise(name: str, results: list[dict]) -> dict:
    import numpy as np

    accs = [r["accuracy"] for r in results]
    grid = sorted({cpu for r in results for cpu, _ in r["curve"]})
    means, worsts = anytime(results, grid)
    to = {}
    for level in LEVELS:
        hit = next((t for t, m in zip(grid, means) if m is not None and m >= level), None)
        to[f"{level:.0f}"] = None if hit is None else round(float(hit), 1)
    low, high = bootstrap_interval(accs)
    worst = int(np.argmin(accs))
    return {"row": name, "seeds": [r["seed"] for r in results], "mean": float(np.mean(accs)),
            "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0, "worst": float(accs[worst]),
            "worst_seed": results[worst]["seed"], "ci95": [low, high],
            "cpu_minutes_per_search": float(np.mean([r["cpu_seconds"] for r in results])) / 60,
            "max_cpu_minutes": float(np.max([r["cpu_seconds"] for r in results])) / 60,
            "clock": sorted({r["clock"] for r in results}), "cpu_seconds_to": to,
            "curve": {"cpu_seconds": grid, "mean": means, "worst": worsts}}


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, s in enumerate(summaries):
        color = f"C{k % 10}"
        c = s["curve"]
        pts = [(t, m, w) for t, m, w in zip(c["cpu_seconds"], c["mean"], c["worst"]) if m is not None]
        if not pts:
            continue
        t, m, w = zip(*pts)
        name = s["row"].split("/")[-1] + (" (supernet)" if "/" in s["row"] else "")
        label = f"{name} ({len(s['seeds'])} seeds{', wall clock' if 'wall' in s['clock'] else ''})"
        ax.step(t, m, where="post", color=color, label=label)
        ax.step(t, w, where="post", color=color, linestyle=":", alpha=0.8)
        if len(t) == 1:  # a search that answers once, at its end (RSPS): a point, with its worst seed below
            ax.plot(t, m, "o", color=color)
            ax.plot(t, w, "v", color=color, alpha=0.8)
    ax.axhline(87.06, color="grey", linewidth=0.8, label="table mean 87.06")
    ax.set_xscale("log")
    ax.set_ylim(80, 95)
    ax.set_xlabel("CPU seconds per search (one thread)")
    ax.set_ylabel("NAS-Bench-201 CIFAR-10 test accuracy of the answer")
    ax.set_title("NB201 (C=8 N=1, 16x16): mean (solid, o), worst seed (dotted, v)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="zerocost,naswot,tenas,rs-train,supernet")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 100-109 or 0,5,7")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--rs-cells", type=int, default=20, help="cells rs-train trains per search")
    parser.add_argument("--rs-epochs", type=int, default=1, help="epochs rs-train gives each cell")
    parser.add_argument("--data-root", type=Path, default=SHARED / "cifar10-jpeg")
    parser.add_argument("--table", type=Path, default=SHARED / "nb201")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "time_to_quality")
    parser.add_argument("--supernet-out", type=Path, default=REPO / "benchmarks" / "out" / "nb201_search")
    parser.add_argument("--picture", type=Path, default=REPO / "docs" / "pictures" / "time_to_quality.png")
    parser.add_argument("--report", action="store_true", help="summarise finished trials only")
    parser.add_argument("--min-seeds", type=int, default=3,
                        help="leave out supernet rows with fewer finished seeds among --seeds (a curve of one seed "
                             "has no worst seed to show)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from nasplug_nb201.loading import load_table

    table = load_table(args.table)
    rows = args.rows.split(",")
    seeds = parse_seeds(args.seeds)
    for row in rows:
        if row == "supernet" or args.report:
            continue
        for seed in seeds:
            path = args.out / row / f"seed{seed}" / "result.json"
            if path.exists():
                continue
            result = run_rs_train(seed, args, table) if row == "rs-train" else run_training_free(row, seed, args, table)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result))
            print(f"{row} seed {seed}: {result['accuracy']:.2f} in {result['cpu_seconds'] / 60:.2f} CPU-min  "
                  f"{result['genotype']}", flush=True)
    summaries = []
    for row in rows:
        if row == "supernet":
            found = {name: [r for r in results if r["seed"] in seeds]
                     for name, results in supernet_trials(args.supernet_out).items()}
            few = sorted(name for name, results in found.items() if len(results) < args.min_seeds)
            if few:
                print(f"supernet rows with fewer than {args.min_seeds} of the seeds finished, left out: "
                      + ", ".join(few))
            found = {name: results for name, results in found.items() if name not in few}
            if not found:
                print(f"supernet: no finished trials under {args.supernet_out} (run benchmarks/nb201_search.py)")
            summaries += [summarise(name, sorted(results, key=lambda r: r["seed"]))
                          for name, results in sorted(found.items())]
            continue
        results = [json.loads(p.read_text()) for p in sorted((args.out / row).glob("seed*/result.json"))
                   if int(p.parent.name[4:]) in seeds]
        if results:
            summaries.append(summarise(row, sorted(results, key=lambda r: r["seed"])))
    print(f"\nseeds {args.seeds}; NAS-Bench-201 CIFAR-10 test accuracy of each search's answer (table mean 87.06)")
    print(f"{'row':34s} {'n':>3s} {'mean':>6s} {'std':>5s} {'worst':>6s} {'(seed)':>6s} {'95% CI of mean':>16s} "
          f"{'CPU-min':>7s} {'to 90/91/92/93 (CPU s)':>26s}")
    for s in summaries:
        to = "/".join("-" if v is None else f"{v:.0f}" for v in s["cpu_seconds_to"].values())
        clock = " (wall clock)" if "wall" in s["clock"] else ""
        print(f"{s['row']:34s} {len(s['seeds']):3d} {s['mean']:6.2f} {s['std']:5.2f} {s['worst']:6.2f} "
              f"{s['worst_seed']:6d} [{s['ci95'][0]:6.2f}, {s['ci95'][1]:6.2f}] {s['cpu_minutes_per_search']:7.2f} "
              f"{to:>26s}{clock}")
    if summaries:
        plot(summaries, args.picture)
        print(f"anytime curves: {args.picture}")
    print(json.dumps({"seeds": seeds, "rows": {s["row"]: {k: v for k, v in s.items() if k != "curve"}
                                               for s in summaries}}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
