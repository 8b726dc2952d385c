"""Every weight-sharing strategy searches NAS-Bench-201 on real CIFAR-10 images, scored by the table.

    python benchmarks/nb201_search.py                      # default budget: 13 rows x 10 seeds (DARTS family 3)
    python benchmarks/nb201_search.py --report             # print what has finished so far; run nothing
    python benchmarks/nb201_search.py --strategies random-fair --seeds 100-104   # recheck a row on unseen seeds
    python benchmarks/nb201_search.py --long               # gdas and random alone at the long budget
    python benchmarks/nb201_search.py --strategies gdas,random --epochs-list 10,20,40   # answer vs budget

Each trial (strategy x seed x budget) is one nasplug run directory,
``OUT/<budget>/<strategy>/seed<k>``: a rerun of the same command skips the
trials that finished (``genotype.json`` present) and continues the others
from their last epoch checkpoint (:meth:`SearchRun.resume`, what ``nasplug
resume DIR`` runs), so a run killed at the end of a session goes on in the
next.  ``--workers`` processes (default 2, one torch thread each) take the
trials seed by seed, the costliest strategy first within a seed.

Every strategy gets the same budget: the ``nb201`` space at ``--C``/``--N``
(and ``--size`` pixels), ``--epochs`` x ``--steps-per-epoch`` weight steps of
``--batch-size`` real images from the ``imagefolder`` at ``--data-root``
(half of its training images train the weights, the other half the
architecture), the rest of each strategy's settings from its preset (for
``nb201`` the authors' NAS-Bench-201 settings where they published them).
Every epoch's derived cell and the final one are looked up in the table
(``benchmark="nb201"``): CIFAR-10 test accuracy after NAS-Bench-201's
200-epoch training, with its CIFAR-100 and ImageNet16-120 columns.  After
``random`` (RSPS) and ``gdas`` finish, their supernets rank 200 random
cells by shared-weight validation accuracy; the Kendall tau against the
table is ``random_kendall_tau``/``gdas_kendall_tau`` (and each row's
``kendall_tau``, the warmup rows' included).

Besides the nine strategies with their presets, five rows run RSPS and GDAS
with FairNAS's strict fairness (``random-fair``, ``gdas-fair``: every op of
every edge trained once per step, five forward/backward passes per step,
:mod:`nasplug.strategies.fairness`; ``random-fair-screen``: the same fair
supernet, its final pick made among the 10 of 200 random cells the
zero-cost vote rates best, ``nasplug-zerocost:proxy-screen``) or with TuNAS's op warmup (``random-warmup``, ``gdas-warmup``: the preset plus
``sampler_options={"op_warmup": true}``): every op of an edge trains during
the first quarter of the search, which is what a short single-path search
lacks (see ``plugins/nasplug-nb201/README.md``).

Seeds: ``--seeds 0-9`` (a list or ranges) or ``--seed-base B --num-seeds K``;
by default 10 per row and 3 for the DARTS-family rows, whose trials take
5-20 CPU minutes.  Prints per row the seeds, mean, std, worst seed and a
bootstrap 95% interval of the mean (:mod:`nasplug.seed_statistics`), the CPU
minutes per search (process time, summed over resumes) and the supernet's
Kendall tau with its interval over the ranked cells; then the CPU seconds
each row's mean and worst-seed anytime curves (the table accuracy of the
cell the search would return, against cumulative ``cpu_seconds``) take to
reach 90/91/92/93, and the table accuracy of each derived cell after every
epoch (also saved as a PNG).  The last line is a JSON object: per row
``seeds``, ``mean``, ``std``, ``worst``, ``ci95``, ``cpu_minutes``,
``anytime`` and ``cpu_seconds_to_9x``, and ``cpu_seconds_to`` per strategy.
Unfinished trials are listed, never averaged in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from nasplug.seed_statistics import bootstrap_ci, seed_summary

REPO = Path(__file__).resolve().parents[1]

#: cheapest first (measured minutes per default trial, see DEFAULT_BUDGET); the report's row order
STRATEGIES = ("random", "random-warmup", "random-fair", "random-fair-screen", "gdas", "gdas-warmup", "gdas-fair", "tunas", "gibbs-1st",
              "gibbs", "gibbs-mean", "darts", "darts-2nd", "amended")
#: what a row sets beyond ``strategy=<row>``: TuNAS without a latency term is its own preset (``tunas`` needs a
#: target); RSPS and GDAS with TuNAS's op warmup (nasplug.strategies.op_warmup), beside the authors' settings, show
#: what keeps a single-path supernet from favouring parameter-free ops
ROW_SETTINGS = {"tunas": {"strategy": "tunas-accuracy"},
                "random-warmup": {"strategy": "random", "sampler_options": {"op_warmup": True}},
                "gdas-warmup": {"strategy": "gdas", "sampler_options": {"op_warmup": True}},
                # FairNAS's strict fairness (nasplug.strategies.fairness): every op of every edge trained once a step
                "random-fair": {"strategy": "random", "sampler_options": {"strict_fairness": True}},
                "gdas-fair": {"strategy": "gdas", "sampler_options": {"strict_fairness": True}},
                # the fair supernet picks among the 10 of 200 random cells the zero-cost vote rates best
                # (nasplug_zerocost.screen): the supernet's bias to parameter-free cells cannot reach the pick
                "random-fair-screen": {"strategy": "random", "sampler_options": {"strict_fairness": True},
                                       "arch_optimizer": "nasplug-zerocost:proxy-screen"}}
#: seeds per row when neither --seeds nor --num-seeds says: 10 (a claim needs them), 3 for the DARTS-family rows,
#: whose trials take 5-20 CPU minutes each (their interval is shown, and wide)
DEFAULT_NUM_SEEDS = 10
FEW_SEED_ROWS = {"gibbs-1st": 3, "gibbs": 3, "darts": 3, "darts-2nd": 3, "amended": 3}  # gibbs-mean: recommended
#: width of the row-name column in the printed tables
NAME_WIDTH = 18
#: whose supernet is asked to rank 200 random cells (by preset)
RANKED = ("random", "gdas")
LONG_STRATEGIES = ("gdas", "random")
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "ImageNet16-120": "ImageNet16-120"}
#: CIFAR-10 test accuracy, mean and std; NAS-Bench-201 paper Table 5 (250-epoch searches on 25k
#: images) as the issue quotes it; GibbsNAS: Xue et al. 2021, Table 3 (a 17-cell network)
PUBLISHED = {"gdas": (93.61, 0.09), "random": (87.66, 1.69), "darts": (54.30, 0.0), "darts-2nd": (54.30, 0.0),
             "gibbs": (92.72, 0.60)}
PUBLISHED_TABLE_SEARCH = {"random search on the table": 93.70, "REA": 93.92, "optimum": 94.37}


# -- trials -------------------------------------------------------------------------------
def budget_label(args, epochs: int) -> str:
    """The directory name of one budget: everything that changes what a trial computes."""
    size = f"-px{args.size}" if args.size else ""
    data = "" if args.data == "imagefolder" else f"{args.data}-"
    limit = f"-n{args.limit_train}" if args.limit_train else ""
    steps = args.steps_per_epoch or "all"
    options = ""
    if args.option:
        digest = hashlib.sha1(json.dumps(args.option, sort_keys=True).encode()).hexdigest()[:8]
        options = f"-o{digest}"
    return f"{data}C{args.C}N{args.N}{size}{limit}-b{args.batch_size}-e{epochs}x{steps}{options}"


def trial_config(args, strategy: str, seed: int, epochs: int) -> dict[str, Any]:
    """The user settings of one trial; the strategy's preset fills in the rest."""
    data_options: dict[str, Any] = {"root": str(args.data_root)} if args.data == "imagefolder" else {}
    if args.size:
        data_options["size"] = args.size
    if args.limit_train:
        data_options["limit_train"] = args.limit_train
    return {"space": "nb201", "strategy": strategy, "data": args.data, "data_options": data_options,
            "space_options": {"C": args.C, "N": args.N}, "epochs": epochs,
            "steps_per_epoch": args.steps_per_epoch or None, "batch_size": args.batch_size, "seed": seed,
            "threads": 1, "eval_batches": args.eval_batches, "benchmark": "nb201",
            "benchmark_options": {"path": str(args.table)}, **ROW_SETTINGS.get(strategy, {}), **args.option}


def trial_status(run_dir: Path) -> str:
    """``done`` (genotype.json written), ``partial`` (a config, maybe a checkpoint) or ``new``."""
    from nasplug.rundir import CONFIG, GENOTYPE

    if (run_dir / GENOTYPE).exists():
        return "done"
    if (run_dir / CONFIG).exists():
        return "partial"
    return "new"


def run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """Run, resume or skip one trial; then, for a ranked strategy, its supernet's Kendall tau. Never raises."""
    run_dir = Path(job["run_dir"])
    try:
        return _run_trial(job, run_dir)
    except Exception as exc:  # one broken trial must not take the others down
        (run_dir / "error.txt").parent.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.txt").write_text(traceback.format_exc())
        return {"run_dir": str(run_dir), "error": f"{type(exc).__name__}: {exc}"}


def _run_trial(job: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    import torch

    from nasplug.rundir import atomic_write_json
    from nasplug.search.run import SearchRun, merged_config

    torch.set_num_threads(1)
    status = trial_status(run_dir)
    ranking_path = run_dir / "ranking.json"
    wants_ranking = job["ranking_cells"] > 0 and job["config"]["strategy"] in RANKED
    if status == "done" and (ranking_path.exists() or not wants_ranking):
        return {"run_dir": str(run_dir), "status": "skipped"}
    started, cpu_started = time.time(), time.process_time()
    if status == "new":
        run = SearchRun(merged_config(job["config"]), run_dir=run_dir)
    else:
        check_same_strategy(run_dir, job["config"]["strategy"])
        run = SearchRun.resume(run_dir)
    first_epoch = run.state.epoch
    run.run()
    epoch_seconds = sum(r["seconds"] for r in run.history if r["epoch"] >= first_epoch)
    timing_path = run_dir / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {"final_seconds": 0.0}
    if first_epoch < run.config.epochs or status != "done":
        timing["final_seconds"] = time.time() - started - epoch_seconds
        # CPU seconds of this process (summed over resumes): what the trial costs on an idle core
        timing["cpu_seconds"] = timing.get("cpu_seconds", 0.0) + time.process_time() - cpu_started
        atomic_write_json(timing_path, timing)
    # after the timing: the unscreened comparison is not part of the search's cost
    if getattr(run.optimizer, "last_screen", None) and not (run_dir / "screen.json").exists():
        atomic_write_json(run_dir / "screen.json", screen_report(run, job["table"]))
    if wants_ranking and not ranking_path.exists():
        from nasplug_nb201 import load_table
        from nasplug_nb201.ranking import supernet_ranking

        begun = time.time()
        ranking = supernet_ranking(run, load_table(job["table"]), n=job["ranking_cells"],
                                   batches=job["ranking_batches"])
        ranking["seconds"] = time.time() - begun
        atomic_write_json(ranking_path, ranking)
    return {"run_dir": str(run_dir), "status": "resumed" if status == "partial" else "ran",
            "seconds": time.time() - started}


def screen_report(run, table_path: str) -> dict[str, Any]:
    """What the proxy screen changed: its finalists (shared-weight and table accuracy) and the pick the same
    supernet makes unscreened (the wrapped RSPS's own final pick), both looked up in the table."""
    from nasplug_nb201 import load_table

    table = load_table(table_path)
    finalists = [{**f, "table_accuracy": table.accuracy_of(f["choices"])} for f in run.optimizer.last_screen]
    unscreened = run.optimizer.inner.final_genotype(run)
    return {"finalists": finalists, "unscreened_pick": str(unscreened),
            "unscreened_accuracy": table.accuracy_of(unscreened)}


def check_same_strategy(run_dir: Path, wanted: str) -> None:
    """Refuse to resume a trial that an earlier version of its row started with another preset.

    A resume runs the stored config, so after a row changes its preset (as
    ``tunas`` became ``tunas-accuracy``) an old partial trial would go on as
    the old preset, or fail with that preset's error; say which instead.
    """
    from nasplug.rundir import CONFIG, read_json

    stored = str(read_json(run_dir / CONFIG, "the trial's search configuration").get("strategy", ""))
    if stored.split(":")[-1] != wanted.split(":")[-1]:
        raise RuntimeError(f"{run_dir} holds a partial search of strategy {stored!r}, but this row runs {wanted!r}: "
                           "remove the directory to start the trial afresh")


def per_row(strategies, seeds) -> dict[str, list[int]]:
    """``{row: seeds}`` from one list for every row or a mapping already per row."""
    return {s: list(seeds[s]) for s in strategies} if isinstance(seeds, dict) else {s: list(seeds) for s in strategies}


def jobs_for(args, strategies, epochs_list, seeds) -> list[dict[str, Any]]:
    """Every trial: smallest budget first, then seed by seed, the costliest strategy first within a seed.

    Seed-major order gives every strategy a finished row before any gets its
    third seed, so a session that ends mid-run still reports all of them;
    costliest first keeps both workers busy to the end of each seed.
    """
    jobs, seeds = [], per_row(strategies, seeds)
    by_cost = sorted(strategies, key=lambda s: -STRATEGIES.index(s) if s in STRATEGIES else -99)
    for epochs in epochs_list:
        for seed in sorted({k for s in strategies for k in seeds[s]}):
            for strategy in (s for s in by_cost if seed in seeds[s]):
                run_dir = args.out / budget_label(args, epochs) / strategy / f"seed{seed}"
                jobs.append({"run_dir": str(run_dir), "config": trial_config(args, strategy, seed, epochs),
                             "table": str(args.table), "ranking_cells": args.ranking_cells,
                             "ranking_batches": args.ranking_batches})
    return jobs


def run_all(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Run the trials on ``workers`` processes (in this process when 1), printing each as it ends."""
    todo = [j for j in jobs if trial_status(Path(j["run_dir"])) != "done"
            or (j["config"]["strategy"] in RANKED and j["ranking_cells"] > 0
                and not (Path(j["run_dir"]) / "ranking.json").exists())]
    print(f"{len(jobs)} trials, {len(jobs) - len(todo)} finished before, {len(todo)} to run on {workers} "
          f"worker(s)", file=sys.stderr, flush=True)
    outcomes = []
    if workers <= 1:
        results = map(run_trial, todo)
        pool = None
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_die_with_parent, maxtasksperchild=1)
        results = pool.imap_unordered(run_trial, todo)
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    finished = False
    try:
        for outcome in results:
            outcomes.append(outcome)
            line = outcome.get("error") or f"{outcome['status']} in {outcome.get('seconds', 0):.0f}s"
            print(f"[{time.strftime('%H:%M:%S')}] {outcome['run_dir']}: {line}", file=sys.stderr, flush=True)
        finished = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        if pool is not None:
            if finished:
                pool.close()
            else:  # killed or interrupted: stop the trials now (their checkpoints are atomic; a rerun resumes them)
                pool.terminate()
            pool.join()
    return outcomes


def _raise_on_sigterm(signum, frame):
    raise SystemExit(f"nb201_search: stopped by signal {signum}; rerun the same command to resume")


def _die_with_parent() -> None:
    """A pool worker ends when the benchmark's process does, however it died.

    Without it a worker a killed parent leaves behind goes on with its trial,
    and a rerun then has two processes writing one run directory.  A daemon
    thread watches the parent's pid (it changes when the worker is orphaned)
    rather than ``PR_SET_PDEATHSIG``, whose "parent" is the thread that
    forked the worker: the pool forks its replacement workers
    (``maxtasksperchild=1``) from a helper thread that ends at ``close()``,
    which killed idle workers while the run was still being joined (a
    finished run was once left hanging after its last trial, with "leaked
    semaphore" warnings when it was stopped).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


# -- collecting ---------------------------------------------------------------------------
def read_trial(run_dir: Path) -> dict[str, Any] | None:
    """A finished trial's scores and per-epoch curve, or None while it is unfinished."""
    from nasplug.rundir import RESULT

    if trial_status(run_dir) != "done" or not (run_dir / RESULT).exists():
        return None
    result = json.loads((run_dir / RESULT).read_text())
    bench = result.get("benchmark") or {}
    history = result.get("history", [])
    timing = json.loads((run_dir / "timing.json").read_text()) if (run_dir / "timing.json").exists() else {}
    ranking = json.loads((run_dir / "ranking.json").read_text()) if (run_dir / "ranking.json").exists() else {}
    screen = json.loads((run_dir / "screen.json").read_text()) if (run_dir / "screen.json").exists() else {}
    return {"unscreened": screen.get("unscreened_accuracy"),
            "finalists": [f["table_accuracy"] for f in screen.get("finalists", [])],
            "genotype": result["genotype"]["string"],
            "accuracy": {d: bench.get(f"{d}_test_accuracy", math.nan) for d in DATASETS},
            "curve": [r.get("benchmark", {}).get("test_accuracy", math.nan) for r in history],
            "seconds": sum(r.get("seconds", 0.0) for r in history) + timing.get("final_seconds", 0.0),
            "cpu_seconds": timing.get("cpu_seconds"),
            "anytime": anytime_points(history, bench.get("cifar10_test_accuracy", math.nan), timing.get("cpu_seconds")),
            "kendall_tau": ranking.get("kendall_tau"),
            "ranking": {k: ranking[k] for k in ("shared_accuracy", "table_accuracy") if k in ranking}}


def anytime_points(history: list[dict[str, Any]], final: float, cpu_seconds: float | None) -> list[list[float]]:
    """``[cpu_seconds, accuracy]`` of the cell the search would return if stopped there, oldest first.

    One point per epoch that derived a cell and recorded its cumulative
    ``cpu_seconds`` (trials from before that field have none), then the
    final cell at the trial's CPU seconds (RSPS has only this one: it picks
    once, at the end).  Stopping at epoch ``e`` is not a search of ``e``
    epochs (the learning-rate schedule differs): it is the anytime answer.
    """
    points = [[r["cpu_seconds"], r["benchmark"]["test_accuracy"]] for r in history
              if "cpu_seconds" in r and "test_accuracy" in (r.get("benchmark") or {})]
    end = cpu_seconds if cpu_seconds is not None else (history[-1].get("cpu_seconds") if history else None)
    if end is not None and not math.isnan(final):
        points.append([max(end, points[-1][0]) if points else end, final])
    return points


def cpu_seconds_to(curve: list[list[float]], level: float) -> float | None:
    """The first CPU second at which ``curve``'s accuracy reaches ``level``; None if it never does."""
    return next((t for t, acc in curve if acc >= level), None)


def aggregate_anytime(curves: list[list[list[float]]]) -> dict[str, list[list[float]]]:
    """The mean and the worst seed's anytime curve, point by point (the seeds' CPU seconds averaged).

    Seeds are aligned by point index, so only as many points as the shortest
    curve has; a row whose curves are all one final point gives one point.
    """
    length = min((len(c) for c in curves), default=0)
    if not length:
        return {"mean": [], "worst": []}
    columns = [[c[i] for c in curves] for i in range(length)]
    times = [statistics.fmean(t for t, _ in col) for col in columns]
    return {"mean": [[t, statistics.fmean(a for _, a in col)] for t, col in zip(times, columns)],
            "worst": [[t, min(a for _, a in col)] for t, col in zip(times, columns)]}


def tau_over_cells_ci(rankings: list[dict[str, list[float]]], resamples: int = 1000) -> list[float]:
    """Bootstrap 95% interval of the seeds' mean Kendall tau, resampling the 200 ranked cells (same cells per seed)."""
    import numpy as np

    from nasplug_nb201.ranking import kendall_tau

    pairs = [(np.asarray(r["shared_accuracy"], float), np.asarray(r["table_accuracy"], float)) for r in rankings]
    n = min(len(a) for a, _ in pairs)

    def mean_tau(index_rows):
        taus = np.array([[kendall_tau(a[row], b[row]) for a, b in pairs] for row in index_rows.astype(int)])
        finite = np.isfinite(taus)  # a resample of identical cells has no tau: left out, not warned about
        return np.where(finite.any(axis=1), np.where(finite, taus, 0).sum(axis=1) / np.maximum(finite.sum(1), 1),
                        np.nan)

    return list(bootstrap_ci(np.arange(n), resamples=resamples, statistic=mean_tau))


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


#: the table accuracies whose CPU seconds to reach them the JSON reports per strategy
TIME_TO_LEVELS = (90, 91, 92, 93)


def summarize(args, strategies, epochs: int, seeds) -> dict[str, Any]:
    """Per strategy: mean/std of the found cells' table accuracy over the finished seeds."""
    out: dict[str, Any] = {}
    seeds = per_row(strategies, seeds)
    for strategy in strategies:
        trials = {s: read_trial(args.out / budget_label(args, epochs) / strategy / f"seed{s}")
                  for s in seeds[strategy]}
        done = {s: t for s, t in trials.items() if t is not None}
        row: dict[str, Any] = {"seeds": len(done), "unfinished": [s for s in seeds[strategy] if s not in done]}
        if done:
            row.update(seed_summary([t["accuracy"]["cifar10"] for t in done.values()]))
            row["seed_list"] = sorted(done)
            row["seconds"] = statistics.fmean(t["seconds"] for t in done.values())
            cpu = [t["cpu_seconds"] for t in done.values() if t["cpu_seconds"] is not None]
            if cpu:
                row["cpu_seconds"] = statistics.fmean(cpu)
                row["cpu_minutes"] = row["cpu_seconds"] / 60
            curves = aggregate_anytime([t["anytime"] for t in done.values() if t["anytime"]])
            row["anytime"] = curves
            for level in TIME_TO_LEVELS:
                row[f"cpu_seconds_to_{level}"] = cpu_seconds_to(curves["mean"], level)
                row[f"worst_seed_cpu_seconds_to_{level}"] = cpu_seconds_to(curves["worst"], level)
            for d in DATASETS:
                row[f"{d}_mean"], row[f"{d}_std"] = mean_std([t["accuracy"][d] for t in done.values()])
            row["per_seed"] = {str(s): {"cifar10": t["accuracy"]["cifar10"], "genotype": t["genotype"],
                                        "kendall_tau": t["kendall_tau"]} for s, t in done.items()}
            row["curves"] = {str(s): t["curve"] for s, t in done.items()}
            unscreened = [t["unscreened"] for t in done.values() if t["unscreened"] is not None]
            if len(unscreened) == len(done):  # proxy-screen: the same supernets' picks without the screen
                row["unscreened"] = seed_summary(unscreened)
                row["finalists_mean"] = statistics.fmean(v for t in done.values() for v in t["finalists"])
            taus = [t["kendall_tau"] for t in done.values() if t["kendall_tau"] is not None]
            if taus:
                row["kendall_tau"] = statistics.fmean(taus)
                row["kendall_tau_ci95_seeds"] = list(bootstrap_ci(taus))
                rankings = [t["ranking"] for t in done.values() if len(t["ranking"]) == 2]
                if rankings and args.tau_cell_resamples:
                    row["kendall_tau_ci95_cells"] = tau_over_cells_ci(rankings, args.tau_cell_resamples)
        out[strategy] = row
    return out


def interval(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci and not math.isnan(ci[0]) else "-"


def print_report(summary: dict[str, Any], table, label: str) -> None:
    print(f"\nNAS-Bench-201 search on real CIFAR-10 images, budget {label}; found cell's CIFAR-10 test accuracy "
          "from the table over seeds (95% interval: bootstrap of the mean)")
    print(f"{'strategy':<{NAME_WIDTH}} {'seeds':>5} {'mean':>6} {'std':>5} {'worst':>6} {'95% interval':>15} "
          f"{'CPU min':>7} {'tau':>6} {'tau 95% (cells)':>15}  published (NB201 Table 5)")
    for strategy, row in summary.items():
        pub = PUBLISHED.get(strategy)
        pub_text = f"{pub[0]:.2f} +/- {pub[1]:.2f}" if pub else "-"
        if not row["seeds"]:
            print(f"{strategy:<{NAME_WIDTH}} {0:>5} {'(unfinished)':>28}{'':>41}  {pub_text}")
            continue
        tau, cpu = row.get("kendall_tau"), row.get("cpu_minutes")
        print(f"{strategy:<{NAME_WIDTH}} {row['seeds']:>5} {row['mean']:>6.2f} {row['std']:>5.2f} {row['worst']:>6.2f} "
              f"{interval(row['ci95']):>15} {'-' if cpu is None else f'{cpu:.1f}':>7} "
              f"{'-' if tau is None else f'{tau:.3f}':>6} {interval(row.get('kendall_tau_ci95_cells')):>15}  "
              f"{pub_text}")
    for strategy, row in summary.items():
        if "unscreened" in row:
            plain = row["unscreened"]
            print(f"{strategy}: the same supernets unscreened (RSPS's own pick of 100 random cells): mean "
                  f"{plain['mean']:.2f}, worst {plain['worst']:.2f}, 95% {interval(plain['ci95'])}; the screen's "
                  f"finalists average {row['finalists_mean']:.2f} in the table")
    print(f"\n{'strategy':<{NAME_WIDTH}} {'CIFAR-100':>14} {'ImageNet16':>14}  seeds   CPU s to reach 90/91/92/93 "
          "(mean curve; worst seed's)")
    for strategy, row in summary.items():
        if row["seeds"]:
            reach = "/".join("-" if row.get(f"cpu_seconds_to_{v}") is None else f"{row[f'cpu_seconds_to_{v}']:.0f}"
                             for v in TIME_TO_LEVELS)
            worst = "/".join("-" if row.get(f"worst_seed_cpu_seconds_to_{v}") is None
                             else f"{row[f'worst_seed_cpu_seconds_to_{v}']:.0f}" for v in TIME_TO_LEVELS)
            print(f"{strategy:<{NAME_WIDTH}} {row['cifar100_mean']:>6.2f} +/- {row['cifar100_std']:<4.1f} "
                  f"{row['ImageNet16-120_mean']:>6.2f} +/- {row['ImageNet16-120_std']:<4.1f}  "
                  f"{','.join(map(str, row['seed_list']))}   {reach} ({worst})")
    print(f"table mean (a uniformly random cell): CIFAR-10 {table.mean_accuracy('cifar10'):.2f}, CIFAR-100 "
          f"{table.mean_accuracy('cifar100'):.2f}, ImageNet16-120 {table.mean_accuracy('ImageNet16-120'):.2f}; "
          f"table best: {table.best('cifar10').accuracy:.2f}, {table.best('cifar100').accuracy:.2f}, "
          f"{table.best('ImageNet16-120').accuracy:.2f}")
    print("published table searches (CIFAR-10 test): "
          + ", ".join(f"{k} {v:.2f}" for k, v in PUBLISHED_TABLE_SEARCH.items()))
    print("\ntable CIFAR-10 accuracy of the derived cell after each epoch (mean over seeds; "
          "random has no cell before its final pick)")
    for strategy, row in summary.items():
        curves = list(row.get("curves", {}).values())
        if curves and any(not math.isnan(v) for c in curves for v in c):
            means = [statistics.fmean(v for v in col if not math.isnan(v)) if any(not math.isnan(v) for v in col)
                     else math.nan for col in zip(*curves)]
            print(f"{strategy:<{NAME_WIDTH}} " + " ".join(f"{v:5.1f}" for v in means))


def save_curves(summary: dict[str, Any], table_mean: float, path: Path, label: str) -> str | None:
    """Per-epoch table accuracy of every seed's derived cell, one panel per strategy."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)", file=sys.stderr)
        return None
    rows = {s: r for s, r in summary.items() if r.get("curves") or r.get("per_seed")}
    if not rows:
        return None
    last_epoch = max((len(c) for r in rows.values() for c in (r.get("curves") or {}).values()), default=1)
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(rows) / cols), cols, figsize=(4 * cols, 3 * math.ceil(len(rows) / cols)),
                             squeeze=False, sharey=True)
    for ax, (strategy, row) in zip(axes.flat, rows.items()):
        for seed, curve in (row.get("curves") or {}).items():
            if any(v is not None and not math.isnan(v) for v in curve):
                ax.plot(range(1, len(curve) + 1), curve, marker=".", label=f"seed {seed}")
            elif seed in row.get("per_seed", {}):  # random (RSPS) picks its cell once, at the end
                ax.plot([last_epoch], [row["per_seed"][seed]["cifar10"]], marker="o", linestyle="none",
                        label=f"seed {seed} (final pick)")
        ax.set_xlim(0.5, last_epoch + 0.5)
        ax.axhline(table_mean, color="grey", linestyle="--", linewidth=1, label="table mean")
        ax.set_title(f"{strategy}: final {row['mean']:.1f} +/- {row['std']:.1f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("NB201 CIFAR-10 test acc")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"derived cell's table accuracy per epoch, {label}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def accuracy_error_bars(means, stds, ceiling: float = 100.0) -> list[list[float]]:
    """(lower, upper) error-bar lengths of mean +/- std, the upper one cut at ``ceiling``: no accuracy bar above 100%."""
    return [[float(sd) for sd in stds], [max(0.0, min(float(sd), ceiling - float(m))) for m, sd in zip(means, stds)]]


def print_budget_curve(by_epochs: dict[int, dict[str, Any]], table_mean: float, path: Path) -> str | None:
    """How each strategy's answer moves with the budget: mean +/- std of the found cells per epoch count."""
    strategies = list(next(iter(by_epochs.values())))
    print("\nfound cell's table CIFAR-10 accuracy against the budget (epochs), mean +/- std [seeds]")
    print(f"{'strategy':<{NAME_WIDTH}} " + " ".join(f"{f'{e} epochs':>20}" for e in by_epochs))
    for strategy in strategies:
        cells = []
        for summary in by_epochs.values():
            row = summary[strategy]
            cells.append(f"{row['mean']:.2f} +/- {row['std']:.2f} [{row['seeds']}]" if row["seeds"] else "-")
        print(f"{strategy:<{NAME_WIDTH}} " + " ".join(f"{c:>20}" for c in cells))
    print("supernet ranking, Kendall tau with the table over 200 random cells (mean over seeds)")
    for strategy in strategies:
        taus = [summary[strategy].get("kendall_tau") for summary in by_epochs.values()]
        if any(t is not None for t in taus):
            print(f"{strategy:<{NAME_WIDTH}} " + " ".join(f"{'-' if t is None else f'{t:.3f}':>20}" for t in taus))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy in strategies:
        points = [(e, s[strategy]["mean"], s[strategy]["std"]) for e, s in by_epochs.items() if s[strategy]["seeds"]]
        if points:
            e, m, sd = zip(*points)
            ax.errorbar(e, m, yerr=accuracy_error_bars(m, sd), marker="o", capsize=3, label=strategy)
    ax.axhline(table_mean, color="grey", linestyle="--", linewidth=1, label="table mean")
    ax.set_xlabel("search epochs")
    ax.set_ylabel("found cell's NB201 CIFAR-10 test acc")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


# -- main ---------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10-jpeg",
                        help="an image folder with train/ and test/ (default: ../shared/data/cifar10-jpeg)")
    parser.add_argument("--data", default="imagefolder", help="a registered dataset (digits: for quick tests)")
    parser.add_argument("--table", type=Path, default=None,
                        help="NAS-Bench-201 table directory (default: $NASPLUG_NB201_DIR or ../shared/data/nb201)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "nb201_search",
                        help="one run directory per trial under it")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", default=None, metavar="LIST",
                        help="the seeds of every row, e.g. 0,1,2 or 100-104 (overrides --seed-base/--num-seeds)")
    parser.add_argument("--seed-base", type=int, default=0, help="first seed of each row (default 0)")
    parser.add_argument("--num-seeds", type=int, default=None,
                        help=f"seeds per row from --seed-base (default {DEFAULT_NUM_SEEDS}; 3 for the DARTS-family "
                             "rows)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_BUDGET["epochs"])
    parser.add_argument("--epochs-list", default=None, help="several budgets, e.g. 10,20 (overrides --epochs)")
    parser.add_argument("--steps-per-epoch", type=int, default=DEFAULT_BUDGET["steps_per_epoch"],
                        help="0: one pass over the weight half of the training images per epoch")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BUDGET["batch_size"])
    parser.add_argument("--C", type=int, default=DEFAULT_BUDGET["C"])
    parser.add_argument("--N", type=int, default=DEFAULT_BUDGET["N"])
    parser.add_argument("--size", type=int, default=DEFAULT_BUDGET["size"], help="image side in pixels (0: as stored)")
    parser.add_argument("--limit-train", type=int, default=0, help="use only this many training images (0: all)")
    parser.add_argument("--eval-batches", type=int, default=4, help="validation batches scoring each epoch's cell")
    parser.add_argument("--ranking-cells", type=int, default=200, help="random cells for the Kendall tau (0: off)")
    parser.add_argument("--ranking-batches", type=int, default=4)
    parser.add_argument("--tau-cell-resamples", type=int, default=1000,
                        help="bootstrap resamples of the ranked cells for the Kendall tau's interval (0: off)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--long", action="store_true",
                        help=f"gdas and random alone at the long budget ({LONG_BUDGET['epochs']} epochs x "
                             f"{LONG_BUDGET['steps_per_epoch']} steps; hours per search, resumable)")
    parser.add_argument("--report", action="store_true", help="collect and print finished trials; run nothing")
    parser.add_argument("--option", action="append", default=[], metavar="FIELD=JSON",
                        help="a SearchConfig field for every trial, e.g. sampler_options='{\"carry_unselected\": "
                             "false}' (repeatable; the budget's directory name gets a hash of them)")
    args = parser.parse_args(argv)
    args.option = dict(_parse_option(text) for text in args.option)
    if args.long:
        if args.strategies == ",".join(STRATEGIES):
            args.strategies = ",".join(LONG_STRATEGIES)
        for key, value in LONG_BUDGET.items():
            if getattr(args, key) == DEFAULT_BUDGET[key]:
                setattr(args, key, value)
    if args.table is None:
        from nasplug_nb201 import default_dir

        args.table = default_dir(REPO)
    # absolute, since each trial's config.json keeps them: a resume from another directory must find the same files
    args.data_root, args.table, args.out = (Path(p).expanduser().resolve() for p in (args.data_root, args.table,
                                                                                       args.out))
    return args


def parse_seeds(text: str) -> list[int]:
    """``0,1,2``, ``100-104`` or a mix (``0-2,7``): the seeds in the order given, without repeats."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, sep, high = part.partition("-")
        try:
            span = range(int(low), int(high) + 1) if sep else [int(part)]
        except ValueError:
            raise SystemExit(f"nb201_search: --seeds wants comma-separated integers or ranges A-B, got {part!r}")
        if sep and not span:
            raise SystemExit(f"nb201_search: --seeds range {part!r} is empty")
        seeds.extend(k for k in span if k not in seeds)
    return seeds


def seeds_for(args, strategy: str) -> list[int]:
    """A row's seeds: ``--seeds``, else ``--num-seeds`` (or the row's default count) from ``--seed-base``."""
    if args.seeds is not None:
        return parse_seeds(args.seeds)
    count = args.num_seeds if args.num_seeds is not None else FEW_SEED_ROWS.get(strategy, DEFAULT_NUM_SEEDS)
    return list(range(args.seed_base, args.seed_base + count))


def _parse_option(text: str) -> tuple[str, Any]:
    field, sep, value = text.partition("=")
    if not sep or not field:
        raise SystemExit(f"nb201_search: --option needs FIELD=JSON, got {text!r}")
    try:
        return field.strip(), json.loads(value)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"nb201_search: --option {field}: {value!r} is not JSON ({exc})") from exc


#: the default budget: nb201 at C=8, N=1 on 16x16 images, 20 epochs of one pass over the 5,000-image weight half
#: (1,560 steps of batch 64).  Measured on one idle core of this 2-core CPU (20 steps each, scaled; command in
#: benchmarks/README.md), minutes per 20-epoch trial: random 0.9, gdas 1.5, tunas 1.9, gibbs-1st 4.5, gibbs 4.6,
#: gibbs-mean 7.7, darts 8.9, darts-2nd 19.7, amended 20.7 (random-warmup and gdas-warmup, sixth session: 1.9 and
#: 2.9 wall minutes beside other runs): 75 min per seed, the 11 rows x 3 seeds in about 1.7 h on two workers.
#: 40 epochs would take 3.5 h, past a session; 40, 100 and 200 are the later budgets of the curve.
DEFAULT_BUDGET = {"epochs": 20, "steps_per_epoch": 0, "batch_size": 64, "C": 8, "N": 1, "size": 16}
#: the long budget for gdas and random (--long): several hours per search, spanning sessions by resume
LONG_BUDGET = {"epochs": 150, "steps_per_epoch": 0, "batch_size": 64, "C": 16, "N": 2, "size": 0}


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    from nasplug_nb201 import load_table

    table = load_table(args.table)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    epochs_list = [int(e) for e in args.epochs_list.split(",")] if args.epochs_list else [args.epochs]
    seeds = {s: seeds_for(args, s) for s in strategies}
    if not args.report:
        run_all(jobs_for(args, strategies, epochs_list, seeds), args.workers)

    by_budget = {}
    for epochs in epochs_list:
        label = budget_label(args, epochs)
        summary = summarize(args, strategies, epochs, seeds)
        print_report(summary, table, label)
        png = save_curves(summary, table.mean_accuracy("cifar10"), args.out / f"{label}.png", label)
        if png:
            print(f"curves: {png}")
        by_budget[label] = summary
    if len(epochs_list) > 1:
        png = print_budget_curve({e: by_budget[budget_label(args, e)] for e in epochs_list},
                                 table.mean_accuracy("cifar10"),
                                 args.out / f"budget-{budget_label(args, epochs_list[0])}-{'-'.join(map(str, epochs_list))}.png")
        if png:
            print(f"budget curve: {png}")
    first = by_budget[budget_label(args, epochs_list[0])]
    out: dict[str, Any] = {s: {k: v for k, v in row.items() if k != "curves"} for s, row in first.items()}
    out["cpu_seconds_to"] = {s: {str(v): row.get(f"cpu_seconds_to_{v}") for v in TIME_TO_LEVELS}
                             for s, row in first.items()}
    out.update({"table_mean": table.mean_accuracy("cifar10"), "table_best": table.best("cifar10").accuracy,
                "random_kendall_tau": first.get("random", {}).get("kendall_tau"),
                "gdas_kendall_tau": first.get("gdas", {}).get("kendall_tau"),
                "budget": budget_label(args, epochs_list[0]), "out": str(args.out),
                "published": {k: v[0] for k, v in PUBLISHED.items()},
                "unfinished": {s: row["unfinished"] for s, row in first.items() if row["unfinished"]}})
    if len(epochs_list) > 1:
        out["by_budget"] = {label: {s: {"mean": row.get("mean"), "std": row.get("std"), "seeds": row["seeds"],
                                        "kendall_tau": row.get("kendall_tau")}
                                    for s, row in summary.items()} for label, summary in by_budget.items()}
    print(json.dumps(out, sort_keys=True, default=str))
    return out


if __name__ == "__main__":
    main()
