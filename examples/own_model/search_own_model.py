"""Search the CIFAR ResNet of cifar_resnet.py with GDAS and with TuNAS under a latency target, retrain, export.

    python examples/own_model/search_own_model.py --data-root ../shared/data/cifar10-jpeg --out runs/own

The defaults are a CPU-sized smoke run (a few steps per search on 1,000
images); raise --epochs/--steps/--limit for a real search.  Both searches'
genotypes, the retrained child's test accuracy and the exported files are
written under --out.  TuNAS's latency is its per-layer lookup table, timed on
this machine at batch 1 with one thread (the table is kept in the search's run
directory); children of this model take about 0.6-3 ms there on the 2-core
machine this was written on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cifar_resnet.py beside this script

from cifar_resnet import CifarResNet  # noqa: E402

from nasplug import Pipeline  # noqa: E402
from nasplug.nn import model_space  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="an ImageFolder tree (train/ and test/) of 32x32 images")
    parser.add_argument("--out", default="runs/own-model")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="search steps per epoch")
    parser.add_argument("--limit", type=int, default=1000, help="training images used")
    parser.add_argument("--target", type=float, default=1.0, help="TuNAS latency target T0 in ms (lookup table)")
    parser.add_argument("--train-epochs", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    space = model_space(CifarResNet)
    data = dict(data="imagefolder", data_options={"root": args.data_root, "limit_train": args.limit,
                                                  "limit_test": args.limit // 5})
    common = dict(space=space, epochs=args.epochs, steps_per_epoch=args.steps, batch_size=32, threads=1,
                  eval_batches=2, **data)

    gdas = Pipeline(strategy="gdas", run_dir=out / "gdas", **common).search()
    print("GDAS found:", gdas.genotype)
    # TuNAS's REINFORCE with the absolute reward |T/T0 - 1|; T is the preset's per-layer lookup table, each unit
    # of this model (stem, every block, the downsampling conv, pool, classifier) timed at the shape it receives
    tunas_pipeline = Pipeline(strategy="tunas", latency_target=args.target, run_dir=out / "tunas", **common)
    tunas = tunas_pipeline.search()
    print("TuNAS found:", tunas.genotype, f"({tunas.history[-1]['derived_latency']:.2f} ms by the lookup table, "
                                         f"target {args.target})")

    report = tunas_pipeline.train(epochs=args.train_epochs, batch_size=32, runs_root=str(out / "retrain"))
    print(f"retrained: test accuracy {report.test_accuracy:.3f}, {report.parameters} parameters")

    from nasplug.export import export_model

    x = torch.randn(4, 3, 32, 32)
    for format in ("pt", "torchscript", "onnx"):  # model.py + weights.pt, model.ts.pt, model.onnx
        result = export_model(report.run_dir, out / "export", format=format, example_input=x)
        print(f"exported {format}: {', '.join(str(f) for f in result.files)} (max difference "
              f"{result.max_difference:.1e} from the PyTorch child)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
