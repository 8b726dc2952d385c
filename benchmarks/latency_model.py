"""How well the per-layer lookup table predicts end-to-end CPU latency (TuNAS's cost model, Sec. 4.2).

    python benchmarks/latency_model.py [--archs 30] [--space proxylessnas] [--size 32] [--threads 1]

Measures the ``lookup`` latency table of a space at SIZExSIZE inputs, then,
for ``--archs`` random architectures, the end-to-end latency of the real
child network (median of ``--repeats`` forwards, same batch size and thread
count as the table) and compares it with the table's prediction (the sum of
the architecture's layer entries).  The last line is a JSON object with the
Spearman rank correlation and the mean absolute percentage error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from scipy.stats import spearmanr

from nasplug import registry
from nasplug.cli_options import parse_options


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="proxylessnas")
    parser.add_argument("--space-option", action="append", default=[])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5,
                        help="end-to-end timings are taken round-robin over the architectures this many times and "
                             "the median kept, so a drift in machine load shifts every architecture alike")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", default=None, help="reuse/write the lookup table here")
    args = parser.parse_args(argv)

    space = registry.get("space", args.space, **parse_options(args.space_option))
    shape = (args.channels, args.size, args.size)
    model = registry.get("latency_model", "lookup", path=args.table, batch_size=args.batch_size,
                         repeats=args.repeats, threads=args.threads)
    started = time.time()
    model.prepare(space, shape, 10)
    table_seconds = time.time() - started

    generator = torch.Generator().manual_seed(args.seed)
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    archs = [space.sample(generator) for _ in range(args.archs)]
    children = [space.build_child(space.genotype_from_choices(c), shape, 10) for c in archs]
    predicted = [model.predict(c) for c in archs]
    rounds: list[list[float]] = [[] for _ in archs]
    try:
        for _ in range(args.rounds):
            for k, child in enumerate(children):
                rounds[k].append(model.time_module(child, shape))
    finally:
        torch.set_num_threads(previous)
    measured = [statistics.median(r) for r in rounds]
    print(f"{'arch':>4} {'predicted ms':>13} {'measured ms':>12}", file=sys.stderr)
    for k in range(args.archs):
        print(f"{k:>4} {predicted[k]:>13.3f} {measured[k]:>12.3f}", file=sys.stderr)
    rho = float(spearmanr(predicted, measured).statistic)
    mape = statistics.fmean(abs(p - m) / m for p, m in zip(predicted, measured)) * 100
    out = {"benchmark": "latency_model", "space": args.space, "space_options": space.options(),
           "input_shape": list(shape), "archs": args.archs, "batch_size": args.batch_size, "threads": args.threads,
           "clock": model.clock, "rounds": args.rounds, "repeats": args.repeats,
           "table_entries": len(model.table), "table_seconds": round(table_seconds, 1),
           "spearman": round(rho, 4), "mape_percent": round(mape, 2),
           "measured_ms_range": [round(min(measured), 3), round(max(measured), 3)],
           "predicted_ms_range": [round(min(predicted), 3), round(max(predicted), 3)],
           "device": model.device}
    print(f"Spearman {rho:.3f}  MAPE {mape:.1f}%  ({len(model.table)} table entries, {table_seconds:.0f}s to measure)")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
