"""Latency targeting with one beta (Table 9, Finding 5): absolute reward vs MnasNet soft reward.

    python benchmarks/latency_targeting.py [--beta -1.0] [--epochs 30] [--seed 0]

Default space: ``proxylessnas`` at half width with 11 searchable layers
(``width=0.5``, ``layers=[2,2,2,2,2,1]``), about four minutes per search on
one CPU thread; pass ``--space-option`` (repeatable) to replace both.

Measures one ``lookup`` latency table for the space on the data's input
size, draws random architectures to find the space's latency range, and
picks three targets T0 at its ``--quantiles``.  For each T0 it runs the
``tunas`` preset with the ``absolute`` reward and, beside it, with
``mnas-soft``, all at the same beta, and reports the predicted latency of
each final architecture (the most likely value of every decision).  The
claim checked: with the absolute reward every final latency is within
+/-5% of its T0 without retuning beta.  The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

from nasplug import Pipeline, registry
from nasplug.cli_options import parse_options


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="proxylessnas")
    parser.add_argument("--space-option", action="append", default=None)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--beta", type=float, default=-1.0)
    parser.add_argument("--arch-lr", type=float, default=None, help="controller base lr (default: the preset's)")
    parser.add_argument("--rewards", default="absolute,mnas-soft")
    parser.add_argument("--quantiles", default="0.15,0.5,0.85")
    parser.add_argument("--samples", type=int, default=2000, help="random architectures used to find the range")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", default=None, help="lookup table path (default: a temporary file)")
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)

    space_options = parse_options(args.space_option if args.space_option is not None
                                  else ["width=0.5", "layers=[2,2,2,2,2,1]"])
    workdir = tempfile.mkdtemp(prefix="latency-targeting-")
    table = args.table or os.path.join(workdir, "table.json")
    space = registry.get("space", args.space, **space_options)
    data = registry.get("dataset", args.data)
    model = registry.get("latency_model", "lookup", path=table)
    model.prepare(space, data.input_shape, data.num_classes)  # measured once, reused by every search

    generator = torch.Generator().manual_seed(args.seed + 12345)
    costs = sorted(model.predict(space.sample(generator)) for _ in range(args.samples))
    targets = [costs[int(float(q) * (len(costs) - 1))] for q in args.quantiles.split(",")]
    print(f"random-architecture latency range {costs[0]:.3f}-{costs[-1]:.3f} ms; targets "
          + ", ".join(f"{t:.3f}" for t in targets), file=sys.stderr)

    runs = []
    for reward in args.rewards.split(","):
        for target in targets:
            started = time.time()
            config = dict(space=args.space, strategy="tunas", data=args.data, epochs=args.epochs, seed=args.seed,
                          space_options=space_options, reward=reward, reward_options={"beta": args.beta},
                          latency_target=target, latency_options={"path": table}, runs_root=workdir)
            if args.arch_lr is not None:
                config["arch_lr"] = args.arch_lr
            result = Pipeline(**config).search()
            final = model.predict(space.choices_from_genotype(result.genotype))
            last = result.history[-1]
            row = {"reward": reward, "beta": args.beta, "target": round(target, 4), "final_latency": round(final, 4),
                   "relative_error": round(final / target - 1, 4),
                   "within_tolerance": abs(final / target - 1) <= args.tolerance,
                   "mean_sampled_latency_last_epoch": round(last.get("cost", float("nan")), 4),
                   "derived_valid_acc": round(last.get("derived_valid_acc", float("nan")), 4),
                   "seconds": round(time.time() - started, 1)}
            runs.append(row)
            print(f"{reward:>10} T0 {target:7.3f}  final {final:7.3f}  ({row['relative_error']:+.1%})  "
                  f"valid acc {row['derived_valid_acc']:.3f}  {row['seconds']:.0f}s", file=sys.stderr)
    absolute = [r for r in runs if r["reward"] == "absolute"]
    out = {"benchmark": "latency_targeting", "space": args.space, "space_options": space_options, "data": args.data,
           "epochs": args.epochs, "beta": args.beta, "tolerance": args.tolerance,
           "latency_range": [round(costs[0], 4), round(costs[-1], 4)], "targets": [round(t, 4) for t in targets],
           "absolute_all_within": bool(absolute) and all(r["within_tolerance"] for r in absolute),
           "runs": runs, "device": model.device}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
