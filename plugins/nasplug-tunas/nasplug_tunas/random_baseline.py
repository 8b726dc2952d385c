"""The random-search baseline of Sec. 3.2, with rejection sampling on latency.

N architectures are drawn uniformly from the space and kept only if their
predicted latency lies within ``T0 +/- tolerance`` (the paper: 84 ms +/- 1 ms);
each is trained from scratch on the search split's training part and
scored on its validation part; the best one is retrained on the full
training set and evaluated on the test set (the paper's 90 then 360 epochs,
scaled by ``epochs`` / ``final_epochs``).

Run it as ``python -m nasplug_tunas.random_baseline --space proxylessnas
--data digits --latency-target 3.0 --tolerance 0.1 --n 20`` (``--help``), or
call :func:`random_baseline`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nasplug import registry as registry_module
from nasplug.cli_options import parse_options
from nasplug.config import TrainConfig
from nasplug.data.bundle import search_split
from nasplug.errors import ConfigError, NasplugError
from nasplug.logs import console_logging
from nasplug.search.run import genotype_record
from nasplug.train import evaluate, train

# named, not __name__: under `python -m` that is "__main__", whose records the console filter drops
logger = logging.getLogger("nasplug_tunas.random_baseline")


def rejection_sample(space, latency_model, target: float, tolerance: float, n: int,
                     generator: torch.Generator, max_tries: int = 200_000) -> list[dict[str, int]]:
    """``n`` distinct uniformly random architectures whose predicted cost is within ``target +/- tolerance``."""
    if not (target > 0 and tolerance >= 0 and n >= 1):
        raise ConfigError(f"rejection sampling needs target > 0, tolerance >= 0, n >= 1; got {target}, {tolerance}, {n}")
    seen, out = set(), []
    for _ in range(max_tries):
        choices = space.sample(generator)
        key = tuple(sorted(choices.items()))
        if key in seen:
            continue
        seen.add(key)
        if abs(latency_model.predict(choices) - target) <= tolerance:
            out.append(choices)
            if len(out) == n:
                return out
    raise ConfigError(f"only {len(out)} of {n} architectures found within {target} +/- {tolerance} "
                      f"{latency_model.unit} in {max_tries} draws; widen the tolerance or move the target")


def _train_and_validate(space, choices, data, train_set, valid_set, epochs: int, batch_size: int, lr: float,
                        seed: int) -> float:
    """Validation accuracy of one architecture trained from scratch (SGD, cosine, the kernel's recipe)."""
    torch.manual_seed(seed)
    model = space.build_child(space.genotype_from_choices(choices), data.input_shape, data.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4, nesterov=True)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    steps = max(1, epochs * len(loader))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    return evaluate(model, DataLoader(valid_set, batch_size=256), torch.device("cpu"))[1]


def random_baseline(space: str = "proxylessnas", data: str = "digits", latency_target: float | None = None,
                    tolerance: float = 0.05, n: int = 20, epochs: int = 5, final_epochs: int = 20,
                    latency_model: str = "lookup", space_options: Mapping[str, Any] | None = None,
                    data_options: Mapping[str, Any] | None = None, latency_options: Mapping[str, Any] | None = None,
                    batch_size: int = 64, lr: float = 0.05, seed: int = 0, train_portion: float = 0.5,
                    runs_root: str = "runs", registry=None, verbose: bool = False) -> dict[str, Any]:
    """Rejection-sampled random search; returns every candidate's latency and validation accuracy and the winner's test accuracy."""
    if latency_target is None:
        raise ConfigError("the random baseline needs latency_target (T0); candidates are drawn near it")
    registry = registry or registry_module.default_registry()
    space_obj = registry.get("space", space, **dict(space_options or {}))
    bundle = registry.get("dataset", data, **dict(data_options or {}))
    model = registry.get("latency_model", latency_model, **dict(latency_options or {}))
    model.prepare(space_obj, bundle.input_shape, bundle.num_classes)
    train_set, valid_set = search_split(bundle.train, train_portion, seed)
    candidates = rejection_sample(space_obj, model, float(latency_target), float(tolerance), int(n),
                                  torch.Generator().manual_seed(seed))
    rows = []
    for k, choices in enumerate(candidates):
        acc = _train_and_validate(space_obj, choices, bundle, train_set, valid_set, epochs, batch_size, lr, seed + k)
        rows.append({"genotype": str(space_obj.genotype_from_choices(choices)), "latency": model.predict(choices),
                     "valid_accuracy": acc})
        logger.info(f"candidate {k + 1}/{len(candidates)}: latency {rows[-1]['latency']:.3f} valid acc {acc:.4f}")
    best = max(range(len(rows)), key=lambda i: (rows[i]["valid_accuracy"], -i))
    record = genotype_record(space_obj, space_obj.genotype_from_choices(candidates[best]))
    final = train(record, TrainConfig(data=data, data_options=dict(data_options or {}), epochs=final_epochs,
                                      batch_size=batch_size, lr=lr, seed=seed, runs_root=runs_root), registry,
                  verbose=verbose)
    return {"space": space, "latency_target": latency_target, "tolerance": tolerance, "unit": model.unit,
            "candidates": rows, "best": best, "best_genotype": record,
            "best_test_accuracy": final.test_accuracy, "best_latency": rows[best]["latency"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nasplug_tunas.random_baseline",
                                description="TuNAS Sec. 3.2 random search: rejection sampling near T0, train each, "
                                            "retrain the best.")
    p.add_argument("--space", default="proxylessnas")
    p.add_argument("--data", default="digits")
    p.add_argument("--latency-target", type=float, required=True)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--final-epochs", type=int, default=20)
    p.add_argument("--latency-model", default="lookup")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-root", default="runs")
    for kind in ("space", "data", "latency"):
        p.add_argument(f"--{kind}-option", action="append", default=None, metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        with console_logging():
            out = random_baseline(args.space, args.data, args.latency_target, args.tolerance, args.n, args.epochs,
                                  args.final_epochs, args.latency_model, parse_options(args.space_option),
                                  parse_options(args.data_option), parse_options(args.latency_option), args.batch_size,
                                  args.lr, args.seed, runs_root=args.runs_root, verbose=True)
    except NasplugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
