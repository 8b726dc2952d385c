"""Equal-budget search quality: every strategy, several seeds, every found genotype retrained identically.

    python benchmarks/search_quality.py --strategies random,gdas --seeds 3

Each strategy runs with its paper preset, on the same data, space, epochs and
batch size; each found genotype is then retrained from scratch with one
fixed recipe and scored on the untouched test split.  Reported per strategy:
mean and std of test accuracy, the run-to-run spread of the genotypes (mean
pairwise fraction of decisions that differ), and search time.  The last line
is a JSON object with the same figures.

The (strategy, seed) trials run through the sweep machinery
(:func:`nasplug.sweep.run_sweep`): ``--executor ray`` runs them in
parallel on a local Ray instance (``--address`` joins a cluster), and with
``--root DIR`` a killed benchmark rerun with the same command skips the
finished trials and resumes the others from their checkpoints.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
from pathlib import Path

from nasplug import registry
from nasplug.cli_options import parse_options
from nasplug.sweep import grid, run_sweep

DEFAULT_ORDER = ["random", "gdas", "darts", "darts-2nd", "amended", "gibbs-1st", "gibbs-1st-mean", "gibbs",
                 "gibbs-mean", "tunas"]


def genotype_spread(space, records) -> float:
    """Mean over pairs of runs of the fraction of decisions on which their genotypes differ."""
    choices = [space.choices_from_genotype(space.genotype_from_json(r["genotype"])) for r in records]
    pairs = list(itertools.combinations(choices, 2))
    if not pairs:
        return 0.0
    return statistics.fmean(sum(a[k] != b[k] for k in a) / len(a) for a, b in pairs)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default="", help="comma-separated; default: every installed one of "
                                                         + ", ".join(DEFAULT_ORDER))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--space-option", action="append", default=["C=8", "N=2"])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--data-option", action="append", default=[])
    parser.add_argument("--epochs", type=int, default=15, help="search epochs, the same for every strategy")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-epochs", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nb201", default=None, metavar="PATH",
                        help="NAS-Bench-201 table directory (nasplug-nb201): also report each found cell's table "
                             "CIFAR-10 test accuracy (nb201 space only)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: trials one by one; ray: Ray tasks, one CPU each (nasplug[ray])")
    parser.add_argument("--address", default=None, help="a Ray cluster to join (with --executor ray)")
    parser.add_argument("--root", default=None, help="keep the trials here (a rerun resumes); default: a temp dir")
    args = parser.parse_args(argv)
    bench = {"benchmark": "nb201", "benchmark_options": {"path": args.nb201}} if args.nb201 else {}

    installed = registry.names("strategy")
    strategies = [s for s in args.strategies.split(",") if s] or [s for s in DEFAULT_ORDER if s in installed]
    space_options = parse_options(args.space_option)
    data_options = parse_options(args.data_option)
    space = registry.get("space", args.space, **space_options)
    results: dict[str, dict] = {}
    base = {"space": args.space, "data": args.data, "space_options": space_options, "data_options": data_options,
            "epochs": args.epochs, "batch_size": args.batch_size, "device": args.device, **bench}
    trials = grid(base, {"strategy": strategies, "seed": list(range(args.seeds))},
                  train={"epochs": args.train_epochs, "seed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_sweep(trials, args.root or tmp, executor=args.executor, address=args.address)
        failed = [r for r in rows if r["status"] != "done"]
        if failed:
            raise SystemExit(f"{len(failed)} trial(s) failed: " + "; ".join(f"{r['trial']}: {r['error']}"
                                                                            for r in failed))
        for strategy in strategies:
            accs, records, seconds, table_accs = [], [], [], []
            for row in (r for r in rows if r["params"]["strategy"] == strategy):
                record = json.loads((Path(row["search_dir"]) / "genotype.json").read_text())
                seconds.append(row["search_seconds"])
                accs.append(row["retrain_test_acc"])
                records.append(record)
                table = f"  table acc {row['benchmark']['test_accuracy']:.2f}" if row["benchmark"] else ""
                if row["benchmark"]:
                    table_accs.append(row["benchmark"]["test_accuracy"])
                print(f"{strategy:<16} seed {row['params']['seed']}: test acc {row['retrain_test_acc']:.4f}{table}  "
                      f"{record['string']}", flush=True)
            results[strategy] = {
                "mean": statistics.fmean(accs), "std": statistics.pstdev(accs), "accs": accs,
                "genotypes": [r["string"] for r in records], "spread": genotype_spread(space, records),
                "search_seconds": statistics.fmean(seconds),
            }
            if table_accs:
                results[strategy].update({"table_mean": statistics.fmean(table_accs),
                                          "table_std": statistics.pstdev(table_accs), "table_accs": table_accs})
    print()
    table_head = f" {'table acc':>10} {'std':>6}" if args.nb201 else ""
    print(f"{'strategy':<16} {'test acc mean':>14} {'std':>8} {'spread':>8} {'search s':>9}{table_head}")
    for name, r in results.items():
        table_cols = f" {r['table_mean']:>10.2f} {r['table_std']:>6.2f}" if "table_mean" in r else ""
        print(f"{name:<16} {r['mean']:>14.4f} {r['std']:>8.4f} {r['spread']:>8.3f} {r['search_seconds']:>9.1f}"
              f"{table_cols}")
    summary = {"setup": {"space": args.space, "space_options": space_options, "data": args.data,
                         "epochs": args.epochs, "train_epochs": args.train_epochs, "seeds": args.seeds,
                         "nb201": args.nb201},
               **results}
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
