"""The three kinds of run that keep a run directory (a search, a retraining, a tabular run), behind one interface,
so every guarantee of the README is tested on each of them (tests/test_rundir_guarantees.py).

Run as a script, it starts or resumes one run in its own process and can kill itself (SIGKILL, or SIGTERM as a
scheduler would send) at a chosen epoch, or wait there until a file appears (to hold the lock):

    python tests/rundir_kinds.py KIND RUN_DIR start|resume [--signal KILL|TERM --at-epoch K] [--hold FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path

EPOCHS = 3
TABLE_DIR_ENV = "NASPLUG_TEST_TABLE_DIR"

SEARCH = dict(space="nb201", strategy="random", data="digits", space_options={"C": 4, "N": 1}, batch_size=32,
              steps_per_epoch=2, optimizer_options={"num_candidates": 3, "screen_batches": 1, "top_k": 2},
              eval_batches=1, epochs=EPOCHS, threads=1)
GENOTYPE = {"space": "nb201", "space_options": {"C": 4, "N": 1},
            "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}
TRAIN = dict(epochs=EPOCHS, batch_size=64, seed=5, data="digits", data_options={"limit_train": 256}, threads=1)
TABULAR = dict(budget=30 * EPOCHS, queries_per_epoch=30, seed=3)


def write_table(folder: Path) -> Path:
    """A full NAS-Bench-201 accuracy table with seeded random accuracies, as the plugin's CSV form."""
    import numpy as np

    from nasplug.spaces.nb201 import NB201Genotype
    from nasplug.spaces.ops import NB201_OPS

    folder.mkdir(parents=True, exist_ok=True)
    strings = [NB201Genotype(tuple(NB201_OPS[o] for o in ops)).to_string()
               for ops in itertools.product(range(len(NB201_OPS)), repeat=6)]
    accuracy = np.random.default_rng(0).uniform(10, 95, len(strings))
    lines = ["CIFAR10TestAccuracy200Epochs,ArchitectureString"]
    lines += [f"{a!r},{s}" for a, s in zip(accuracy.tolist(), strings)]
    (folder / "accuracy.csv").write_text("\n".join(lines) + "\n")
    return folder


def table():
    from nasplug_nb201.loading import load_table

    return load_table(os.environ[TABLE_DIR_ENV])


def start(kind: str, run_dir, callbacks=()):
    """A new run of ``kind`` in ``run_dir`` (not yet run)."""
    if kind == "search":
        from nasplug.search.run import SearchRun, merged_config

        return SearchRun(merged_config(SEARCH), run_dir=run_dir, callbacks=callbacks)
    if kind == "train":
        from nasplug.config import TrainConfig
        from nasplug.train import Trainer

        return Trainer(GENOTYPE, TrainConfig(**TRAIN), run_dir=run_dir, callbacks=callbacks)
    from nasplug_nb201.evolution import RegularizedEvolution
    from nasplug_nb201.tabular import TabularRun

    return TabularRun(table(), RegularizedEvolution(10, 3), **TABULAR, run_dir=run_dir, callbacks=callbacks)


def resume(kind: str, run_dir, callbacks=(), **options):
    """The run of ``kind`` in ``run_dir``, continued from its checkpoint (``from_previous`` ... as options)."""
    if kind == "search":
        from nasplug.search.run import SearchRun

        return SearchRun.resume(run_dir, callbacks=callbacks, **options)
    if kind == "train":
        from nasplug.train import Trainer

        trainer = Trainer.resume(run_dir, **options)
        trainer.callbacks += list(callbacks)
        return trainer
    from nasplug_nb201.evolution import RegularizedEvolution
    from nasplug_nb201.tabular import TabularRun

    return TabularRun.resume(run_dir, table(), arch_optimizer=RegularizedEvolution(10, 3), callbacks=callbacks,
                             **options)


def epoch_of(run) -> int:
    """Epochs done (search and tabular runs keep them in their state, a retraining in ``epoch``)."""
    return run.epoch if hasattr(run, "epoch") and not hasattr(run, "state") else run.state.epoch


def outcome(run_dir: Path) -> dict:
    """What a finished run leaves that must not depend on interruptions: metrics without timings, results."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("seconds", None)
        row.pop("cpu_seconds", None)  # process CPU time: a timing like seconds
    result = json.loads((run_dir / "result.json").read_text())
    for key in ("provenance", "history", "run_dir"):
        result.pop(key, None)
    return {"metrics": rows, "result": result}


def main(argv=None) -> int:
    from nasplug import signals

    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("search", "train", "tabular"))
    parser.add_argument("run_dir")
    parser.add_argument("action", choices=("start", "resume"))
    parser.add_argument("--signal", choices=("KILL", "TERM"))
    parser.add_argument("--at-epoch", type=int, default=2)
    parser.add_argument("--hold", help="at --at-epoch, wait until this file exists (the run holds its lock)")
    args = parser.parse_args(argv)

    def at_epoch(run, event):
        if event != "epoch":
            return
        if args.hold and epoch_of(run) >= args.at_epoch:
            Path(args.hold + ".waiting").write_text(str(os.getpid()))
            while not Path(args.hold).exists():
                time.sleep(0.02)
        if args.signal and epoch_of(run) == args.at_epoch:
            os.kill(os.getpid(), getattr(signal, "SIG" + args.signal))

    import torch

    torch.set_num_threads(1)
    with signals.stop_on_signals():
        try:
            run = (start if args.action == "start" else resume)(args.kind, args.run_dir, callbacks=[at_epoch])
            run.run()
        except signals.Stopped as exc:
            print(f"stopped: {exc}", file=sys.stderr)
            return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
