"""``nasplug nb201-search``: a query-budget search on the NAS-Bench-201 table, no training.

Each query reads a cell's accuracy from the table (the search signal and the
ground truth); the command prints the method's answer, its table accuracy,
the best cell it queried and, with a latency device, the answer's latency.
Light to import (``nasplug --help`` lists it); the table and torch are
loaded when it runs.
"""

from __future__ import annotations

import argparse
import json

HELP = "query-budget search on the NAS-Bench-201 table (random search, REA or REINFORCE; no training)"
METHODS = ("rs", "rea", "reinforce")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", default=None, help="folder with accuracy.csv and latency_ms.csv (or the official "
                                                     "release); default: $NASPLUG_NB201_DIR")
    parser.add_argument("--method", choices=METHODS, default="rea",
                        help="rs: random search; rea: regularized evolution; reinforce: the TuNAS controller")
    parser.add_argument("--queries", type=int, default=100, help="query budget (table look-ups)")
    parser.add_argument("--dataset", default="cifar10", help="accuracy column: cifar10, cifar100 or imagenet16-120")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--population", type=int, default=10, help="REA population size")
    parser.add_argument("--sample-size", type=int, default=3, help="REA tournament size")
    parser.add_argument("--rl-lr", type=float, default=0.01, help="REINFORCE controller learning rate")
    parser.add_argument("--latency-device", default=None,
                        help="a latency column (e.g. pixel3); with --latency-target, REINFORCE trades accuracy "
                             "for latency with the absolute reward")
    parser.add_argument("--latency-target", type=float, default=None, help="latency target T0 in ms")
    parser.add_argument("--beta", type=float, default=-0.5, help="the absolute reward's cost exponent beta")
    parser.add_argument("--run-dir", default=None,
                        help="keep a run directory (checkpoint and metrics each epoch); the same command again "
                             "continues a killed run from its last checkpoint")
    parser.add_argument("--queries-per-epoch", type=int, default=None,
                        help="with --run-dir: queries between checkpoints (must divide --queries; default: all)")
    parser.add_argument("--from-previous", action="store_true",
                        help="with --run-dir of a killed run: continue from checkpoint.prev.pt")


def search(args: argparse.Namespace) -> dict:
    """Run the search ``args`` describe; the result as a JSON-able dict."""
    from nasplug.errors import ConfigError
    from nasplug_nb201.evolution import RandomQuerySearch, RegularizedEvolution
    from nasplug_nb201.loading import default_dir, load_table
    from nasplug.run_directory import holds_run
    from nasplug_nb201.tabular import TabularRun

    if args.latency_target is not None and (args.method != "reinforce" or args.latency_device is None):
        raise ConfigError("--latency-target needs --method reinforce and --latency-device COLUMN")
    table = load_table(args.path or default_dir())
    common = dict(budget=args.queries, dataset=args.dataset, seed=args.seed, latency_device=args.latency_device,
                  queries_per_epoch=args.queries_per_epoch, run_dir=args.run_dir)
    if args.method == "rs":
        optimizer, extra = RandomQuerySearch(), {}
    elif args.method == "rea":
        optimizer, extra = RegularizedEvolution(args.population, args.sample_size), {}
    else:
        reward = {} if args.latency_target is None else dict(
            reward="absolute", reward_options={"beta": args.beta}, latency_target=args.latency_target)
        optimizer, extra = "reinforce", dict(sampler="categorical", arch_lr=args.rl_lr, **reward,
                                             sampler_options={"op_warmup": False, "filter_warmup": False})
    if args.run_dir is not None and holds_run(args.run_dir):  # the same command again: continue the run it holds
        run = TabularRun.resume(args.run_dir, table, arch_optimizer=None if isinstance(optimizer, str) else optimizer,
                                from_previous=args.from_previous)
    else:
        run = TabularRun(table, optimizer, **common, **extra)
    result = run.run()
    return {"method": args.method, "queries": result.queries, "dataset": args.dataset,
            "genotype": table.string(result.final_index), "accuracy": result.final_accuracy,
            "best_queried": table.string(result.best_index), "best_queried_accuracy": result.best_accuracy,
            "latency_ms": result.final_latency, "latency_device": args.latency_device}


def run(args: argparse.Namespace) -> int:
    out = search(args)
    print(f"genotype: {out['genotype']}")
    print(f"{out['dataset']} test accuracy: {out['accuracy']:.2f}  (best of {out['queries']} queries: "
          f"{out['best_queried_accuracy']:.2f})")
    if out["latency_ms"] is not None:
        print(f"{out['latency_device']} latency: {out['latency_ms']:.2f} ms")
    print(json.dumps(out, sort_keys=True))
    return 0
