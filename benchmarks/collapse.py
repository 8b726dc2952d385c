"""Does the search drift to parameter-free ops when run long? (Bi et al., 2019, Sec. 3.1 and 4.1.1.)

Runs the ``amended`` optimizer on the edge-fixed ``darts-s1`` space on digits
for eta in {0, 0.1, 1} (eta = 0 is first-order DARTS), and after every epoch
records, over the derived normal and reduction cells, the share of edges
holding ``skip_connect`` and the share holding any parameter-free op
(skip, max/avg pooling).  Writes a PNG of both curves and prints, as its last
line, a JSON object with the per-epoch shares.

    python benchmarks/collapse.py [--epochs 40] [--etas 0,0.1,1] [--out benchmarks/out/collapse.png]

The etas are independent runs; to use both cores of a small machine, run them
in separate processes (``--etas 1 > eta1.log``, ``--etas 0,0.1 --include
eta1.log``): ``--include`` reads an earlier run's JSON last line and puts its
curves into this run's plot and JSON.

At this scale (8x8 digits, a few channels, minutes of CPU) the run is far
shorter than the paper's 500 CIFAR-10 epochs; the alpha learning rate is
raised (default 3e-3, ten times the paper's) so that alpha moves as far in a
few hundred steps as it would in a long search.  Say so when quoting it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nasplug import Pipeline
from nasplug.cli_options import parse_options

PARAMETER_FREE = {"skip_connect", "max_pool_3x3", "avg_pool_3x3", "none"}


def shares(genotype) -> dict[str, float]:
    ops = [op for cell in (genotype.normal, genotype.reduce) if cell for node in cell for op, _ in node]
    return {"skip": sum(op == "skip_connect" for op in ops) / len(ops),
            "parameter_free": sum(op in PARAMETER_FREE for op in ops) / len(ops)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--etas", default="0,0.1,1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arch-lr", type=float, default=3e-3)
    parser.add_argument("--space-option", action="append", default=["C=4", "layers=5"])
    parser.add_argument("--hvp", default="exact", choices=["exact", "finite"])
    parser.add_argument("--out", default="benchmarks/out/collapse.png")
    parser.add_argument("--include", action="append", default=[], metavar="LOG",
                        help="an earlier collapse.py output (its JSON last line): add its curves (repeatable)")
    args = parser.parse_args(argv)
    space_options = parse_options(args.space_option)
    etas = [float(e) for e in args.etas.split(",") if e]

    curves: dict[str, dict] = {}
    for log in args.include:
        earlier = json.loads(Path(log).read_text().strip().splitlines()[-1])
        if earlier["setup"]["space_options"] != space_options or earlier["setup"]["arch_lr"] != args.arch_lr:
            raise SystemExit(f"--include {log}: its setup {earlier['setup']} differs from this run's")
        curves.update(earlier["etas"])
    with tempfile.TemporaryDirectory() as tmp:
        for eta in etas:
            space = None
            records = []

            def record(run, event, records=records):
                nonlocal space
                if event != "epoch":
                    return
                space = run.space
                genotype = run.space.derive(run.arch_distribution())
                records.append({"epoch": run.state.epoch, **shares(genotype),
                                "valid_acc": run.history[-1].get("derived_valid_acc")})
                print(f"eta {eta} epoch {run.state.epoch}: skip {records[-1]['skip']:.3f} "
                      f"parameter-free {records[-1]['parameter_free']:.3f}", flush=True)

            start = time.time()
            result = Pipeline(space="darts-s1", strategy="amended", data="digits", space_options=space_options,
                              optimizer_options={"eta": eta, "hvp": args.hvp}, epochs=args.epochs,
                              batch_size=args.batch_size, arch_lr=args.arch_lr, seed=args.seed, eval_batches=2,
                              runs_root=tmp, callbacks=[record]).search()
            seconds = time.time() - start
            last = records[-1]
            print(f"eta {eta:<5} skip share {last['skip']:.3f}  parameter-free share {last['parameter_free']:.3f}  "
                  f"{seconds:.0f}s  {result.genotype}", flush=True)
            curves[str(eta)] = {"skip": [r["skip"] for r in records],
                                "parameter_free": [r["parameter_free"] for r in records],
                                "valid_acc": [r["valid_acc"] for r in records],
                                "genotype": str(result.genotype), "seconds": seconds}

    curves = dict(sorted(curves.items(), key=lambda item: float(item[0])))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for key, ax, title in (("skip", axes[0], "skip_connect share"),
                               ("parameter_free", axes[1], "parameter-free share")):
            for eta, curve in curves.items():
                ax.plot(range(1, len(curve[key]) + 1), curve[key], label=f"eta = {eta}")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_ylim(-0.02, 1.02)
        axes[0].set_ylabel("share of the 16 derived edges")
        axes[0].legend()
        fig.suptitle(f"darts-s1 on digits ({space_options}, batch {args.batch_size}, arch lr {args.arch_lr})")
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        plot = str(out)
    except ImportError:
        plot = None
    summary = {"setup": {"space": "darts-s1", "space_options": space_options, "epochs": args.epochs,
                         "batch_size": args.batch_size, "arch_lr": args.arch_lr, "seed": args.seed,
                         "hvp": args.hvp},
               "plot": plot, "etas": curves}
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
