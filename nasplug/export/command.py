"""``nasplug export SOURCE --format pt|torchscript|onnx --out DIR``: the kernel's export subcommand.

Registered through the same ``nasplug_cli_commands`` hook a plugin uses; this
module imports nothing heavy, so ``nasplug --help`` stays fast.
"""

from __future__ import annotations

import argparse

from nasplug.cli_commands import CliCommand
from nasplug.errors import ConfigError
from nasplug.export import FORMATS


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(v < 1 for v in shape):
        raise argparse.ArgumentTypeError(f"expected positive integers C,H,W (e.g. 3,32,32), got {text!r}")
    return shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a retraining run directory (its weights), a search run directory, or a "
                                       "genotype.json")
    parser.add_argument("--format", default="pt", metavar="|".join(FORMATS),
                        help="pt: model.py + weights.pt (plain PyTorch, no nasplug needed); torchscript: "
                             'model.ts.pt for torch.jit.load; onnx: model.onnx, checked with ONNX Runtime (pip '
                             'install "nasplug[onnx]"). Default: pt')
    parser.add_argument("--out", default=None, help="output folder (default: SOURCE/export, or export/ beside a "
                                                    "genotype file)")
    parser.add_argument("--input-shape", type=_shape, default=None, metavar="C,H,W",
                        help="the network's input (default: from the run's data set)")
    parser.add_argument("--num-classes", type=int, default=None, help="number of classes (default: from the "
                                                                         "run's data set)")
    parser.add_argument("--batch-size", type=int, default=2, help="batch the network is traced and checked on")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: torch's)")
    parser.add_argument("--space-option", action="append", default=None, metavar="KEY=VALUE",
                        help="change an option of the child network's space (repeatable)")


def run(args: argparse.Namespace) -> int:
    from nasplug.cli_options import parse_options
    from nasplug.export import check_format, export_model

    check_format(args.format)
    if args.num_classes is not None and args.num_classes < 1:
        raise ConfigError(f"--num-classes must be a positive integer, got {args.num_classes}")
    result = export_model(args.source, args.out, args.format, input_shape=args.input_shape,
                          num_classes=args.num_classes, batch_size=args.batch_size, opset=args.opset,
                          space_options=parse_options(args.space_option or []))
    for path in result.files:
        print(f"wrote {path}")
    print(f"weights: {result.weights}")
    print(f"checked: largest output difference from PyTorch {result.max_difference:.2g} on a batch of "
          f"{args.batch_size}")
    if result.note:
        print(f"note: the network {result.note}")
    return 0


COMMAND = CliCommand("write the found network as a file that runs without nasplug (pt, torchscript, onnx)",
                     add_arguments, run)
