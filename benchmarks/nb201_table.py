"""Query-budget search on the NAS-Bench-201 table: random search, REA and REINFORCE (TuNAS controller).

    python benchmarks/nb201_table.py --path ../shared/data/nb201 --queries 100 --seeds 100

No training: each query reads a cell's CIFAR-10 test accuracy (200-epoch
schedule, mean over the benchmark's seeds) from the table, which is also the
search signal (the CSV form has no validation accuracy).  For every method
and seed the best accuracy among the queried cells is recorded; reported are
its mean and std over seeds and the mean regret to the table optimum.  For
REINFORCE the accuracy of the policy's final argmax cell is shown as well.
The last line is a JSON object with ``rs``, ``rea``, ``reinforce`` (each
``mean``, ``std``, ``regret``) and the setup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from nasplug_nb201 import RandomQuerySearch, RegularizedEvolution, TabularRun, default_dir, load_table

#: NAS-Bench-201 paper (Dong & Yang, ICLR 2020), Table 5, CIFAR-10 test, 12,000 s simulated budget
PAPER = {"rs": (93.70, 0.36), "rea": (93.92, 0.30), "reinforce": (93.85, 0.37)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=None, help="directory with accuracy.csv (default: $NASPLUG_NB201_DIR "
                                                     "or ../shared/data/nb201)")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--population", type=int, default=10, help="REA population (NAS-Bench-201 runs: 10)")
    parser.add_argument("--sample-size", type=int, default=3, help="REA tournament size (NAS-Bench-201 runs: 3)")
    parser.add_argument("--rl-lr", type=float, default=0.01,
                        help="REINFORCE base learning rate (NATS-Bench's REINFORCE runs use 0.01); the TuNAS "
                             "schedule holds it at 0 for the first 25%% of queries, then grows it to 10x")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    path = Path(args.path) if args.path else default_dir(Path(__file__).resolve().parents[1])
    table = load_table(path)
    optimum = table.best(args.dataset).accuracy
    methods = {
        "rs": lambda seed: TabularRun(table, RandomQuerySearch(), args.queries, args.dataset, seed),
        "rea": lambda seed: TabularRun(table, RegularizedEvolution(args.population, args.sample_size),
                                       args.queries, args.dataset, seed),
        "reinforce": lambda seed: TabularRun(
            table, "reinforce", args.queries, args.dataset, seed, sampler="categorical",
            sampler_options={"op_warmup": False, "filter_warmup": False}, arch_lr=args.rl_lr),
    }
    results = {}
    for name, make in methods.items():
        start = time.time()
        runs = [make(seed).run() for seed in range(args.seeds)]
        best = [r.best_accuracy for r in runs]
        final = [r.final_accuracy for r in runs]
        results[name] = {"mean": statistics.fmean(best), "std": statistics.pstdev(best),
                         "regret": optimum - statistics.fmean(best),
                         "final_mean": statistics.fmean(final), "final_std": statistics.pstdev(final),
                         "seconds": time.time() - start}
        print(f"{name}: {args.seeds} seeds in {results[name]['seconds']:.1f}s", file=sys.stderr, flush=True)

    print(f"NAS-Bench-201 {args.dataset} test accuracy, {args.queries} queries, {args.seeds} seeds "
          f"(table optimum {optimum:.2f}, mean cell {table.mean_accuracy(args.dataset):.2f})")
    print(f"{'method':<10} {'best found':>16} {'regret':>8} {'final arch':>16} {'paper (12000 s)':>16}")
    for name, r in results.items():
        paper = f"{PAPER[name][0]:.2f} +/- {PAPER[name][1]:.2f}" if args.dataset == "cifar10" else "-"
        print(f"{name:<10} {r['mean']:>8.2f} +/- {r['std']:.2f} {r['regret']:>8.2f} "
              f"{r['final_mean']:>8.2f} +/- {r['final_std']:.2f} {paper:>16}")
    summary = {"setup": {"dataset": args.dataset, "queries": args.queries, "seeds": args.seeds,
                         "optimum": optimum, "population": args.population, "sample_size": args.sample_size,
                         "rl_lr": args.rl_lr, "path": str(path)},
               "paper": {k: {"mean": m, "std": s} for k, (m, s) in PAPER.items()}, **results}
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
