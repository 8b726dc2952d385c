"""Latency-targeted REINFORCE (TuNAS controller) on the NAS-Bench-201 table with a measured device column.

    python benchmarks/nb201_latency_target.py --path ../shared/data/nb201 --device pixel3 --seeds 5

For each target T0 at the 25th, 50th and 75th percentile of the device's
latencies, the TuNAS controller (registry ``reinforce`` + ``categorical``)
searches the table with quality = CIFAR-10 test accuracy / 100 and cost =
the device's measured latency, under the ``absolute`` reward
(Q + beta |T/T0 - 1|, one beta for every target) and, beside it, the
``mnas-soft`` reward (Q (T/T0)^beta).  For the search's final cell
it reports latency / T0 and the accuracy regret against the best cell whose
latency is within 5% of T0 (exact, from the table).

``--final`` is what the controller returns: ``best-sampled`` (default here)
is the most accurate cell it sampled within 5% of T0 -- on a table every
sample's quality is its true accuracy, so the search keeps what it has seen,
as the rejection-sampled random baseline of TuNAS Sec. 3.2 does;
``most-likely`` is the paper's rule for a supernet (the argmax of every
decision), reported beside it for every run.  Two baselines run on the same
targets and seeds: rejection-sampled random search (``--random-queries``
distinct cells drawn uniformly within T0 +/- 5%, the best one kept) and,
for ``mnas-soft``, how often its most likely cell is both faster and more
accurate than the absolute reward's most likely cell.  The last line is a JSON object: ``within_5pct``
and ``mean_regret`` of the absolute reward at top level, both rewards in
full under their names, and ``random_rejection``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201 import TableLatencyModel, TabularRun, default_dir, load_table

TOLERANCE = 0.05


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=None, help="directory with accuracy.csv and latency_ms.csv "
                                                     "(default: $NASPLUG_NB201_DIR or ../shared/data/nb201)")
    parser.add_argument("--device", default="pixel3", help="a latency column of the table")
    parser.add_argument("--percentiles", default="25,50,75")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rl-lr", type=float, default=0.05, help="controller base lr (TuNAS schedule on top)")
    parser.add_argument("--beta", type=float, default=-0.5, help="absolute reward's beta, the same for every T0")
    parser.add_argument("--final", default="best-sampled", choices=("best-sampled", "most-likely"),
                        help="the controller's answer: best sampled cell within 5%% of T0, or the policy's argmax")
    parser.add_argument("--random-queries", type=int, default=100,
                        help="cells of the rejection-sampled random search per target and seed")
    parser.add_argument("--mnas-beta", type=float, default=-0.07, help="mnas-soft reward's beta (MnasNet's value)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    path = Path(args.path) if args.path else default_dir(Path(__file__).resolve().parents[1])
    table = load_table(path)
    latency = table.latency_column(args.device)
    accuracy = table.accuracy["cifar10"]
    rewards = {"absolute": args.beta, "mnas-soft": args.mnas_beta}
    out: dict = {}
    rows = []
    for reward, beta in rewards.items():
        runs = []
        for q, target, best_near in targets(table, args, latency, accuracy):
            for seed in range(args.seeds):
                start = time.time()
                run = TabularRun(table, "reinforce", args.queries, "cifar10", seed, sampler="categorical",
                                 sampler_options={"op_warmup": False, "filter_warmup": False},
                                 optimizer_options={"final": args.final, "final_tolerance": TOLERANCE},
                                 arch_lr=args.rl_lr, reward=reward, reward_options={"beta": beta},
                                 latency_device=args.device, latency_target=target)
                result = run.run()
                likely = table.index(run.space.genotype_from_choices(run.arch.argmax()))
                ratio = result.final_latency / target
                runs.append({"percentile": q, "target_ms": target, "seed": seed, "latency_ratio": ratio,
                             "within_5pct": abs(ratio - 1.0) <= TOLERANCE, "accuracy": result.final_accuracy,
                             "latency_ms": result.final_latency,
                             "best_within_5pct": best_near, "regret": best_near - result.final_accuracy,
                             "most_likely": {"latency_ratio": float(latency[likely] / target),
                                             "latency_ms": float(latency[likely]),
                                             "accuracy": float(accuracy[likely]),
                                             "regret": best_near - float(accuracy[likely])},
                             "genotype": result.genotype.to_string(), "seconds": time.time() - start})
                print(f"{reward} p{q:.0f} seed {seed}: T/T0 {ratio:.3f} acc {result.final_accuracy:.2f} "
                      f"regret {best_near - result.final_accuracy:.2f}", file=sys.stderr, flush=True)
        out[reward] = {"beta": beta, "within_5pct": statistics.fmean(r["within_5pct"] for r in runs),
                       "mean_regret": statistics.fmean(r["regret"] for r in runs), "runs": runs}
        rows.extend((reward, r) for r in runs)

    out["random_rejection"] = rejection_random_search(table, args, latency, accuracy)
    # the controllers' most likely cells (the paper's answer), compared run by run
    absolute = {(r["percentile"], r["seed"]): r["most_likely"] for r in out["absolute"]["runs"]}
    if "mnas-soft" in out:
        wins = [r["most_likely"]["latency_ms"] < absolute[(r["percentile"], r["seed"])]["latency_ms"]
                and r["most_likely"]["accuracy"] > absolute[(r["percentile"], r["seed"])]["accuracy"]
                for r in out["mnas-soft"]["runs"]]
        out["mnas-soft"]["faster_and_more_accurate_than_absolute"] = statistics.fmean(wins)
    for reward in rewards:
        runs = out[reward]["runs"]
        out[reward]["most_likely"] = {
            "within_5pct": statistics.fmean(abs(r["most_likely"]["latency_ratio"] - 1) <= TOLERANCE for r in runs),
            "mean_regret": statistics.fmean(r["most_likely"]["regret"] for r in runs)}

    print(f"TuNAS REINFORCE on NAS-Bench-201, {args.device} latency, {args.queries} queries, {args.seeds} seeds/target")
    print(f"{'reward':<10} {'pct':>4} {'T0 ms':>7} {'T/T0 mean':>10} {'[min, max]':>16} {'within 5%':>10} "
          f"{'regret':>7} {'best<=5% acc':>13}")
    for reward in rewards:
        runs = out[reward]["runs"]
        for q in sorted({r["percentile"] for r in runs}):
            sel = [r for r in runs if r["percentile"] == q]
            ratios = [r["latency_ratio"] for r in sel]
            print(f"{reward:<10} {q:>4.0f} {sel[0]['target_ms']:>7.2f} {statistics.fmean(ratios):>10.3f} "
                  f"[{min(ratios):.3f}, {max(ratios):.3f}] {statistics.fmean(r['within_5pct'] for r in sel):>10.2f} "
                  f"{statistics.fmean(r['regret'] for r in sel):>7.2f} {sel[0]['best_within_5pct']:>13.2f}")
        print(f"{reward:<10} all: within 5% {out[reward]['within_5pct']:.2f}, mean regret "
              f"{out[reward]['mean_regret']:.2f} (beta {rewards[reward]}, final {args.final}); most likely cell: "
              f"within 5% {out[reward]['most_likely']['within_5pct']:.2f}, "
              f"mean regret {out[reward]['most_likely']['mean_regret']:.2f}")
    rnd = out["random_rejection"]
    print(f"rejection-sampled random search, {args.random_queries} cells within 5% of T0: mean regret "
          f"{rnd['mean_regret']:.2f} [{rnd['min_regret']:.2f}, {rnd['max_regret']:.2f}]")
    if "mnas-soft" in out:
        print(f"mnas-soft's most likely cell faster and more accurate than the absolute reward's: "
              f"{out['mnas-soft']['faster_and_more_accurate_than_absolute']:.2f} of runs")
    summary = {"within_5pct": out["absolute"]["within_5pct"], "mean_regret": out["absolute"]["mean_regret"],
               "setup": {"device": args.device, "queries": args.queries, "seeds": args.seeds, "rl_lr": args.rl_lr,
                         "final": args.final, "random_queries": args.random_queries,
                         "percentiles": args.percentiles, "path": str(path)}, **out}
    print(json.dumps(summary, sort_keys=True))
    return summary


def targets(table, args, latency, accuracy):
    """(percentile, T0, best accuracy within 5% of T0) for every ``--percentiles`` target, exact from the table."""
    for q in [float(p) for p in args.percentiles.split(",")]:
        target = table.latency_percentile(args.device, q)
        near = np.abs(latency / target - 1.0) <= TOLERANCE
        yield q, target, float(np.nanmax(np.where(near, accuracy, np.nan)))


def rejection_random_search(table, args, latency, accuracy) -> dict:
    """TuNAS Sec. 3.2's baseline on the table: ``random_queries`` distinct uniform cells within T0 +/- 5%, best kept."""
    from nasplug_tunas.random_baseline import rejection_sample

    space, model = NB201Space(), TableLatencyModel(table=table, device=args.device)
    regrets = []
    for _, target, best_near in targets(table, args, latency, accuracy):
        for seed in range(args.seeds):
            cells = rejection_sample(space, model, target, TOLERANCE * target, args.random_queries,
                                     torch.Generator().manual_seed(seed))
            regrets.append(best_near - max(float(accuracy[table.index(c)]) for c in cells))
    return {"queries": args.random_queries, "mean_regret": statistics.fmean(regrets), "min_regret": min(regrets),
            "max_regret": max(regrets)}


if __name__ == "__main__":
    main()
