"""A Tune sweep with ASHA early stopping against the same number of full-length random trials.

Runs, in one process and on one local Ray instance, the sweep file twice
(default ``examples/sweeps/sweep.toml``: 16 random samples, ASHA on
``derived_valid_acc``): once as written, once with ``scheduler = "fifo"``
(every trial to its last epoch).  The same ``[tune] seed`` draws the same 16
configurations both times.  Each variant writes into its own fresh folder
under ``--root`` (default: a new temporary folder), so the wall times are of
whole sweeps.  Prints each variant's wall time, trials stopped early, epochs
run and best ``derived_valid_acc``, then ``tune_over_full`` (the wall-time
ratio) and both best results::

    python benchmarks/tune_sweep.py --num-cpus 2
    python benchmarks/tune_sweep.py --sweep my_sweep.toml --num-samples 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_variant(sweep, root: Path, scheduler: str | None) -> dict:
    import attrs

    from nasplug.sweep_tune import run_tune

    settings = sweep.tune if scheduler is None else attrs.evolve(sweep.tune, scheduler=scheduler)
    variant = attrs.evolve(sweep, root=root, tune=settings)
    started = time.time()
    rows = run_tune(variant, log=None)
    seconds = time.time() - started
    metric = settings.metric
    scored = [r for r in rows if r.get(metric) is not None]
    best = (max if settings.mode == "max" else min)(scored, key=lambda r: r[metric]) if scored else None
    return {"scheduler": settings.scheduler, "seconds": seconds, "trials": len(rows),
            "stopped": sum(r["status"] == "stopped_early" for r in rows),
            "failed": sum(r["status"] not in ("done", "stopped_early") for r in rows),
            "epochs": sum(r.get("epochs_run") or 0 for r in rows),
            "best": None if best is None else best[metric], "best_trial": None if best is None else best["trial"],
            "metric": metric}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=REPO / "examples" / "sweeps" / "sweep.toml")
    parser.add_argument("--root", type=Path, default=None, help="a fresh folder for both variants (default: temp)")
    parser.add_argument("--num-samples", type=int, default=None, help="override [tune] num_samples")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import attrs
    import ray

    from nasplug.sweep_tune import _ray_init, load_tune_sweep

    sweep = load_tune_sweep(args.sweep)
    if args.num_samples:
        sweep = attrs.evolve(sweep, tune=attrs.evolve(sweep.tune, num_samples=args.num_samples))
    root = args.root or Path(tempfile.mkdtemp(prefix="nasplug-tune-bench-"))
    if any((root / name).exists() for name in ("tune", "full")):
        print(f"error: {root} already holds a run of this benchmark; pass a fresh --root", file=sys.stderr)
        return 2
    _ray_init(None, {"num_cpus": args.num_cpus})
    try:
        tuned = run_variant(sweep, root / "tune", None)
        full = run_variant(sweep, root / "full", "fifo")
    finally:
        ray.shutdown()
    for row in (tuned, full):
        print(f"{row['scheduler']:>5}: {row['trials']} trials in {row['seconds']:.0f}s, {row['stopped']} stopped early, "
              f"{row['failed']} failed, {row['epochs']} epochs run; best {row['metric']} "
              f"{row['best']:.4f} ({row['best_trial']})")
    print(f"tune_over_full {tuned['seconds'] / full['seconds']:.3f} (wall time, {sweep.tune.scheduler} over fifo); "
          f"best {tuned['metric']}: tune {tuned['best']:.4f}, full {full['best']:.4f}; "
          f"{sweep.tune.num_samples} samples of {args.sweep.name}, seed {sweep.tune.seed}, "
          f"{args.num_cpus} Ray CPUs; folders under {root}")
    print(json.dumps({"tune_over_full": tuned["seconds"] / full["seconds"], "tune": tuned, "full": full,
                      "num_samples": sweep.tune.num_samples, "seed": sweep.tune.seed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
