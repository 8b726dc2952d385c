"""Scaling out on one machine: data-parallel search throughput and parallel trials.

    python benchmarks/scaling.py                    # 2 processes / 2 Ray CPUs (a 2-core machine)
    python benchmarks/scaling.py --nproc 4 --steps 20

Two measurements, side by side in one run:

1. ``ddp_over_single``: training images per second of a GDAS search on
   NAS-Bench-201 (C=16, N=5, global batch 64) in ``--nproc`` gloo processes
   launched by ``torch.distributed.run`` (one torch thread each) over the
   same search in one process with one thread.  Only the steps after
   ``--warmup`` are timed (the per-step callback's clock); the epoch-end
   evaluation is not.
2. ``sweep_over_serial``: the wall time of 4 GDAS trials (seeds 0-3) run
   one by one in this process (``--executor local``) over the same 4
   trials as a Ray sweep on a local instance with ``--nproc`` CPUs (one CPU
   and one thread per trial).  Ray's start-up is reported apart
   (``ray_init_seconds``), as a cluster is normally already running.

The target on 2 cores is >= 1.6 for both.  The last line is a JSON object
with both ratios, the raw figures and the machine's load average before and
after (other jobs on the machine depress the ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["NASPLUG_SHARED_DATA"]) if "NASPLUG_SHARED_DATA" in os.environ else next(
    (p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").exists()), REPO.parent / "shared" / "data")
CIFAR = SHARED / "cifar10-jpeg"


def search_fields(args) -> dict:
    """The throughput search: gdas on nb201 C=16 N=5, batch 64, CIFAR-10 images when available."""
    fields = {"space": "nb201", "strategy": "gdas", "space_options": {"C": 16, "N": 5}, "batch_size": 64,
              "epochs": 1, "steps_per_epoch": args.warmup + args.steps, "eval_batches": 1, "threads": 1,
              "seed": 0}
    if args.data_root:
        fields.update(data="imagefolder", data_options={"root": str(args.data_root), "limit_train": 2560,
                                                        "limit_test": 64, "augment": False})
    else:
        fields["data"] = "digits"
    return fields


def worker(args) -> None:
    """One process of the throughput measurement (alone, or one rank under torch.distributed.run)."""
    from nasplug.search.run import SearchRun, merged_config

    clock: list[float] = []
    run = SearchRun(merged_config(search_fields(args)), write_files=False,
                    callbacks=[lambda run, event: clock.append(time.perf_counter()) if event == "step" else None])
    run.run_epoch()
    timed = clock[args.warmup - 1:] if args.warmup else [clock[0]] + clock
    seconds = timed[-1] - timed[0]
    if run.dist.writes_files:
        images = (len(timed) - 1) * run.config.batch_size
        Path(args.worker).write_text(json.dumps({"images_per_s": images / seconds, "seconds": seconds,
                                                 "world_size": run.dist.world_size}))


def throughput(args, nproc: int) -> dict:
    out = Path(tempfile.mkdtemp()) / "result.json"
    flags = [f"--steps={args.steps}", f"--warmup={args.warmup}", f"--worker={out}"]
    if args.data_root:
        flags.append(f"--data-root={args.data_root}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, __file__, *flags]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               __file__, *flags]
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())


def sweep_times(args) -> dict:
    import ray

    from nasplug.sweep import grid, run_sweep

    trials = grid({"space": "nb201", "strategy": "gdas", "data": "digits", "space_options": {"C": 16, "N": 5},
                   "epochs": args.trial_epochs, "batch_size": 64, "eval_batches": 2},
                  {"seed": [0, 1, 2, 3]}, num_cpus=1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        serial = run_sweep(trials, Path(tmp) / "serial", executor="local", log=None)
        serial_s = time.perf_counter() - start
        start = time.perf_counter()
        ray.init(num_cpus=args.nproc, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - start
        try:
            start = time.perf_counter()
            parallel = run_sweep(trials, Path(tmp) / "ray", executor="ray", log=None)
            ray_s = time.perf_counter() - start
        finally:
            ray.shutdown()
    same = [r["genotype"] for r in serial] == [r["genotype"] for r in parallel]
    # the trials' own wall times: what Ray adds around them is the rest of sweep_seconds
    trial_s = {name: sum(r["wall_seconds_last_invocation"] for r in rows) / len(rows)
               for name, rows in (("serial_trial_seconds", serial), ("ray_trial_seconds", parallel))}
    return {"serial_seconds": serial_s, "sweep_seconds": ray_s, "ray_init_seconds": init_s,
            "same_genotypes": same, **trial_s}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2, help="processes / Ray CPUs (default 2)")
    parser.add_argument("--steps", type=int, default=12, help="timed search steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--trial-epochs", type=int, default=3, help="search epochs of each sweep trial")
    parser.add_argument("--data-root", default=str(CIFAR) if CIFAR.exists() else None,
                        help="a CIFAR-10 image folder for the throughput search (default: the shared one; "
                             "digits without it)")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-ddp", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        from nasplug import distributed

        if distributed.launched():
            distributed.finish()  # a launched rank leaves here (gloo's teardown can abort a plain return)
        return {}
    load_before = os.getloadavg()
    result = {"nproc": args.nproc, "steps": args.steps}
    if not args.skip_ddp:
        single = throughput(args, 1)
        ddp = throughput(args, args.nproc)
        ddp_ratio = ddp["images_per_s"] / single["images_per_s"]
        print(f"gdas nb201 C=16 N=5 batch 64 ({'CIFAR-10 images' if args.data_root else 'digits'}): 1 process "
              f"{single['images_per_s']:.1f} img/s, {args.nproc} processes {ddp['images_per_s']:.1f} img/s "
              f"-> {ddp_ratio:.2f}x", flush=True)
        result.update({"ddp_over_single": ddp_ratio, "single_images_per_s": single["images_per_s"],
                       "ddp_images_per_s": ddp["images_per_s"]})
    if not args.skip_sweep:
        sweep = sweep_times(args)
        result["sweep_over_serial"] = sweep["serial_seconds"] / sweep["sweep_seconds"]
        result.update(sweep)
        print(f"4 gdas trials: serial {sweep['serial_seconds']:.1f}s, Ray sweep {sweep['sweep_seconds']:.1f}s "
              f"(+{sweep['ray_init_seconds']:.1f}s ray.init) -> {result['sweep_over_serial']:.2f}x; one trial "
              f"{sweep['serial_trial_seconds']:.1f}s serial, {sweep['ray_trial_seconds']:.1f}s in Ray", flush=True)
    result["load_before"], result["load_after"] = list(load_before), list(os.getloadavg())
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
