"""Does the ``measured`` latency model's table rank whole children as their measured latency does?

    python benchmarks/measured_latency.py [--space nb201 --space-option C=16] [--archs 20] [--size 32]
    python benchmarks/measured_latency.py --space proxylessnas
    python benchmarks/measured_latency.py --example [--lookup]

For one space: measures the ``measured`` model's table at SIZExSIZE inputs
(a space with latency units, a user's model or a mobile space: every unit
configuration standalone at the shapes it receives, plus ``--backgrounds``
whole children for the base; a space without, nb201 or darts: each
decision's choices in place, over random backgrounds), then for
``--archs`` random children compares the table's prediction (the sum of the
child's entries) with the child's measured latency (timed like the table's
children, round-robin).  The noise of the machine is reported as the Spearman
of two independent measurements of the same children (the ceiling any
predictor can reach here), and the spread of their ratios.  Target: Spearman
>= 0.9.  The last line is a JSON object of the figures.  Without ``--space``
it runs nb201 (C=16, N=5) and proxylessnas (width 0.5, layers 1,2,2,2,2,1), one after the other.
``--example`` runs the user-model example instead (``examples/own_model/cifar_resnet.py``: a model space with
LayerChoice, InputChoice, ValueChoice widths and kernels, and Repeat depths; the same as ``--space model
--space-option model=cifar_resnet:CifarResNet`` with that folder on the path).  ``--lookup`` also compares the
TuNAS ``lookup`` model's predictions (its per-unit table, measured like TuNAS's, summed over the child's units)
with the same measured children.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from nasplug import registry
from nasplug.cli_options import parse_options
from nasplug.measured_latency import MeasuredLatencyModel

#: nb201 as the table was made (C=16, N=5); a ProxylessNAS space at half width and 10 searched layers (the full
#: one has 57 decisions: its table is some 240 children, too long to time on a shared 2-core machine)
DEFAULT_SPACES = (("nb201", {"C": 16, "N": 5}), ("proxylessnas", {"width": 0.5, "layers": [1, 2, 2, 2, 2, 1]}))
#: the user-model example's folder and its model (``--example``)
EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "own_model"
EXAMPLE_SPACE = ("model", {"model": "cifar_resnet:CifarResNet"})


def run_space(name: str, options: dict, args) -> dict:
    reg = registry.default_registry()
    space = reg.get("space", name, **options)
    shape = (3, args.size, args.size)
    model = MeasuredLatencyModel(repeats=args.repeats, rounds=args.rounds, backgrounds=args.backgrounds,
                                 seed=args.seed)
    started = time.perf_counter()
    model.prepare(space, shape, 10)
    table_seconds = time.perf_counter() - started
    generator = torch.Generator().manual_seed(args.seed + 1)
    archs = {}
    while len(archs) < args.archs:
        choices = space.sample(generator)
        archs[str(space.genotype_from_choices(choices))] = choices
    predicted = [model.predict(c) for c in archs.values()]
    first = model._time_all(archs)
    second = model._time_all(archs)
    measured = [first[k] for k in archs]
    again = [second[k] for k in archs]
    ratios = sorted(b / a for a, b in zip(measured, again))
    row = {"space": name, "options": options, "input": list(shape), "archs": len(archs),
           "table": "per unit" if model.units else "per decision", "unit_entries": len(model.units),
           "children_in_table": len(model.children), "table_seconds": round(table_seconds, 1),
           "spearman_table_vs_measured": round(float(spearmanr(predicted, measured).statistic), 3),
           "spearman_table_vs_remeasured": round(float(spearmanr(predicted, again).statistic), 3),
           "spearman_measured_vs_remeasured": round(float(spearmanr(measured, again).statistic), 3),
           "remeasured_ratio_min_median_max": [round(ratios[0], 3), round(statistics.median(ratios), 3),
                                               round(ratios[-1], 3)],
           "measured_ms_min_max": [round(min(measured), 2), round(max(measured), 2)],
           "mean_abs_pct_error": round(100 * statistics.fmean(abs(p - m) / m for p, m in zip(predicted, measured)), 1)}
    if args.lookup:
        from nasplug_tunas.latency import LookupLatencyModel

        lookup = LookupLatencyModel()
        started = time.perf_counter()
        lookup.prepare(space, shape, 10)
        looked_up = [lookup.predict(c) for c in archs.values()]
        row.update({"lookup_entries": len(lookup.table),
                    "lookup_seconds": round(time.perf_counter() - started, 1),
                    "spearman_lookup_vs_measured": round(float(spearmanr(looked_up, measured).statistic), 3),
                    "spearman_lookup_vs_remeasured": round(float(spearmanr(looked_up, again).statistic), 3),
                    "lookup_mean_abs_pct_error": round(100 * statistics.fmean(abs(p - m) / m for p, m in
                                                                               zip(looked_up, measured)), 1)})
        print(f"{name}: lookup table of {len(lookup.table)} unit entries in {row['lookup_seconds']:.0f}s; Spearman "
              f"lookup vs measured {row['spearman_lookup_vs_measured']} (vs a second measurement "
              f"{row['spearman_lookup_vs_remeasured']}), mean abs error {row['lookup_mean_abs_pct_error']}%",
              flush=True)
    form = f"{len(model.units)} unit entries and " if model.units else ""
    print(f"{name}: table of {form}{len(model.children)} children in {table_seconds:.0f}s; Spearman table vs measured "
          f"{row['spearman_table_vs_measured']} (vs a second measurement {row['spearman_table_vs_remeasured']}); "
          f"measured vs remeasured {row['spearman_measured_vs_remeasured']} (noise ceiling), ratios "
          f"{row['remeasured_ratio_min_median_max']}; children {row['measured_ms_min_max']} ms", flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=None)
    parser.add_argument("--space-option", action="append", default=[])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--backgrounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--example", action="store_true", help="the user-model example (examples/own_model)")
    parser.add_argument("--lookup", action="store_true", help="also TuNAS's per-unit lookup table")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.example:
        sys.path.insert(0, str(EXAMPLE_DIR))
        spaces = [EXAMPLE_SPACE]
    else:
        spaces = [(args.space, parse_options(args.space_option))] if args.space else list(DEFAULT_SPACES)
    rows = [run_space(name, options, args) for name, options in spaces]
    result = {"threads": 1, "clock": "thread CPU time", "statistic": "lower quartile", "rows": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
