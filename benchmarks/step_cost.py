"""Cost of one search step on the DARTS space, for every installed strategy, side by side.

Configuration (the GDAS issue's): ``darts`` space, C=16, 8 cells, batch 64 of
32x32 RGB images, 10 classes, CPU.  Each part in ``step_cost_parts/`` adds
the keys it owns; the last line printed is one JSON object with all of them.

    python benchmarks/step_cost.py [--repeats 10] [--device cpu] [--only gdas,amended]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from nasplug import registry
from nasplug.search.run import SearchRun, merged_config

PARTS = Path(__file__).parent / "step_cost_parts"


class Bench:
    """What every part shares: the space config, one batch, and fair timing."""

    def __init__(self, repeats: int, device: str, batch_size: int = 64, C: int = 16, layers: int = 8,
                 resolution: int = 32, memory: bool = True):
        self.repeats, self.device = repeats, torch.device(device)
        self.memory = memory
        self.batch_size, self.resolution = batch_size, resolution
        self.space_options = {"C": C, "layers": layers}
        g = torch.Generator().manual_seed(0)
        n = batch_size * 4
        images = (torch.rand(n, 3, resolution, resolution, generator=g) * 255).to(torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=g)
        self.data_options = {"x_train": images, "y_train": labels, "x_test": images[:batch_size],
                             "y_test": labels[:batch_size], "num_classes": 10}
        torch.manual_seed(0)
        self.x = torch.randn(batch_size, 3, resolution, resolution, device=self.device)
        self.y = torch.randint(0, 10, (batch_size,), device=self.device)
        self.results: dict[str, float] = {}
        self.rows: list[tuple[str, float, float | None]] = []

    def space(self, name: str = "darts", **options):
        return registry.get("space", name, **{**self.space_options, **options})

    def run(self, strategy: str, **overrides) -> SearchRun:
        """A search run on the shared synthetic batch (nothing written to disk)."""
        config = merged_config({"space": "darts", "strategy": strategy, "data": "tensors",
                                "space_options": self.space_options, "data_options": self.data_options,
                                "batch_size": self.batch_size, "device": str(self.device), **overrides})
        return SearchRun(config, write_files=False)

    def batches(self):
        return (self.x, self.y), (self.x, self.y)

    def time(self, label: str, fn: Callable[[], object], warmup: int = 2, memory: bool = True) -> float:
        """Mean seconds of ``fn`` over ``repeats`` calls after ``warmup``; peak memory in MiB recorded too."""
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(self.repeats):
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        peak = self.peak_memory(fn) if memory and self.memory else None
        mean = statistics.fmean(times)
        self.rows.append((label, mean, peak))
        return mean

    def peak_memory(self, fn: Callable[[], object]) -> float:
        """Memory of one call in MiB: the CUDA allocator's peak on a GPU; on the CPU, the
        distinct storages autograd saves for the backward pass (activations and the weights
        they use), which is what separates single-path from mixture steps and is cheap to
        measure (the CPU profiler's memory pass takes minutes on the mixture step)."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            fn()
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        seen: set[int] = set()
        total = 0

        def pack(tensor):
            nonlocal total
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            fn()
        return total / 2**20


def part_names() -> list[str]:
    """The parts in ``step_cost_parts/`` (files starting with ``_`` are helpers, not parts)."""
    return sorted(path.stem for path in PARTS.glob("*.py") if not path.stem.startswith("_"))


def load_part(name: str):
    """Import one part; raises ImportError when the plugin it measures is not installed."""
    spec = importlib.util.spec_from_file_location(f"step_cost_parts.{name}", PARTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default="", help="comma-separated part names (files in step_cost_parts/)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory pass")
    args = parser.parse_args(argv)
    bench = Bench(args.repeats, args.device, batch_size=args.batch_size, memory=not args.no_memory)
    only = {p for p in args.only.split(",") if p} or None
    skipped = {}
    for name in part_names():
        if only and name not in only:
            continue
        try:  # loading too: a part whose plugin is not installed must not hide the others
            bench.results.update(load_part(name).measure(bench))
        except Exception as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
    memory = "peak MiB" if bench.device.type == "cuda" else "saved MiB"
    print(f"{'step':<48} {'mean ms':>10} {memory:>10}")
    for label, mean, peak in bench.rows:
        print(f"{label:<48} {mean * 1e3:>10.1f} {('%.1f' % peak) if peak is not None else '-':>10}")
    for name, why in skipped.items():
        print(f"skipped part {name}: {why}", file=sys.stderr)
    out = {k: round(v, 4) for k, v in bench.results.items()}
    out["device"] = str(bench.device)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out, sort_keys=True))
    return out


if __name__ == "__main__":
    main()
