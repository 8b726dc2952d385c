"""GDAS on real CIFAR-10 images with the nb201 space, scored against the NAS-Bench-201 table.

    python benchmarks/nb201_gdas_cifar.py --data-root ../shared/data/cifar10-jpeg --path ../shared/data/nb201

A small-budget GDAS search (the ``gdas`` preset, tau 10 -> 0.1 on nb201;
defaults C=8, N=1, 8 epochs x 40 steps of batch 64, sized to fit well inside
20 minutes of CPU) on the ``cifar10-jpeg`` image folder (10,000 training
images: half train the weights, half the architecture).  The search runs with
``benchmark="nb201"``, so every epoch's derived cell and the final one are
looked up in the table: their CIFAR-10 test accuracy after the benchmark's
full 200-epoch training, next to the table's mean cell (what a random pick
gets on average) and its best cell.  The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from nasplug import Pipeline
from nasplug_nb201 import default_dir, load_table


def main(argv=None) -> dict:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=None, help="NAS-Bench-201 table directory (default: $NASPLUG_NB201_DIR "
                                                     "or ../shared/data/nb201)")
    parser.add_argument("--data-root", default=str(repo.parent / "shared" / "data" / "cifar10-jpeg"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=40, help="0: one pass over the split (78 steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-batches", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    table_path = Path(args.path) if args.path else default_dir(repo)
    table = load_table(table_path)
    start, cpu_start = time.time(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        result = Pipeline(space="nb201", strategy="gdas", data="imagefolder",
                          data_options={"root": args.data_root}, space_options={"C": args.C, "N": args.N},
                          epochs=args.epochs, steps_per_epoch=args.steps_per_epoch or None, batch_size=args.batch_size,
                          eval_batches=args.eval_batches, seed=args.seed, runs_root=tmp,
                          benchmark="nb201", benchmark_options={"path": str(table_path)}, verbose=True).search()
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    mean, best = table.mean_accuracy("cifar10"), table.best("cifar10")
    print(f"GDAS, nb201 space C={args.C} N={args.N}, {args.epochs} epochs x {args.steps_per_epoch or 'all'} steps on "
          f"{args.data_root} ({seconds:.0f}s wall, {cpu_seconds:.0f}s CPU)")
    print(f"{'epoch':>5} {'tau':>6} {'derived valid acc':>18} {'table test acc':>15}  genotype")
    per_epoch = []
    for record in result.history:
        acc = record.get("benchmark", {}).get("test_accuracy", float("nan"))
        per_epoch.append({"epoch": record["epoch"], "table_test_accuracy": acc, "genotype": record.get("genotype"),
                          "derived_valid_acc": record.get("derived_valid_acc"), "tau": record.get("tau")})
        tau = record.get("tau", float("nan"))
        print(f"{record['epoch'] + 1:>5} {tau:>6.2f} {record.get('derived_valid_acc', float('nan')):>18.3f} "
              f"{acc:>15.2f}  {record.get('genotype')}")
    final = result.benchmark
    print(f"found:      {final['test_accuracy']:.2f}  {result.genotype}")
    print(f"table mean: {mean:.2f}   table best: {best.accuracy:.2f}  {best.string}")
    summary = {"gdas": {"test_accuracy": final["test_accuracy"],
                        "cifar100_test_accuracy": final.get("cifar100_test_accuracy"),
                        "genotype": str(result.genotype), "index": final["index"], "seconds": seconds,
                        "cpu_seconds": cpu_seconds, "per_epoch": per_epoch},
               "table_mean": mean, "table_best": best.accuracy,
               "setup": {"C": args.C, "N": args.N, "epochs": args.epochs, "batch_size": args.batch_size,
                         "steps_per_epoch": args.steps_per_epoch, "seed": args.seed, "data_root": args.data_root}}
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
