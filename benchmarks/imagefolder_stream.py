"""A streamed image folder against torchvision's ``ImageFolder`` + ``DataLoader``: peak memory and throughput.

Generates (once, into ``--folder``, default under /tmp; never stored in the repository) a folder of
``--n`` small JPEGs in ``train/<class>/`` (and a few in ``test/``), then trains a small CNN for one epoch
over it twice each way, alternating, each epoch in its own child process:

* ``torchvision``: ``ImageFolder(train/, transform=ToTensor, Normalize, RandomCrop(pad), RandomHorizontalFlip)``;
* ``nasplug``: ``image_folder(root, cache_limit_mb=0)``'s training set (decode, normalise, crop, flip per
  item in the workers).

Both use the same ``DataLoader`` (``--workers``, ``--batch-size``, shuffled), model, optimizer and torch
threads.  Peak memory is the largest sum of the resident sets of the child and its DataLoader workers
(sampled every 50 ms; pages the forked workers share with the parent count once per process, so this
overstates; the proportional set size, which splits them, is printed beside it).
Throughput is images per second of the epoch (scan and set-up excluded, printed apart).  Prints both, the
ratio ``nasplug_over_torchvision`` (best epoch of each) and whether the targets hold (peak < 2 GB,
ratio >= 0.9)::

    python benchmarks/imagefolder_stream.py                 # 50,000 32x32 JPEGs, 2 workers
    python benchmarks/imagefolder_stream.py --n 2000 --rounds 1    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

CLASSES = 10


def _make_chunk(args: tuple[str, int, int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder, start, stop, size = args
    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(start, stop):
        label = i % CLASSES
        base = (ramp[None, :, None] * (label + 1) / CLASSES + ramp[:, None, None] * 0.3) % 255
        image = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        split = "test" if (i // CLASSES) % 100 == 0 else "train"
        Image.fromarray(image).save(Path(folder) / split / f"c{label}" / f"{i:06d}.jpg", quality=90)


def generate(folder: Path, n: int, size: int, workers: int) -> None:
    """``n`` JPEGs (1% of them in test/), made once: a marker file says the folder is complete."""
    from multiprocessing import Pool

    marker = folder / f".complete-{n}-{size}"
    if marker.exists():
        return
    for split in ("train", "test"):
        for c in range(CLASSES):
            (folder / split / f"c{c}").mkdir(parents=True, exist_ok=True)
    started = time.time()
    step = 2000
    with Pool(max(1, workers)) as pool:
        pool.map(_make_chunk, [(str(folder), s, min(n, s + step), size) for s in range(0, n, step)])
    marker.write_text("")
    print(f"generated {n} JPEGs of {size}x{size} under {folder} in {time.time() - started:.0f}s", flush=True)


def _tree_memory_bytes(pid: int) -> tuple[int, int]:
    """(RSS, PSS) summed over ``pid`` and all its descendants (Linux /proc); PSS splits shared pages."""
    total, proportional, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    total += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    proportional += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total, proportional


def child(kind: str, folder: Path, workers: int, batch_size: int, seed: int) -> dict:
    """One epoch with one pipeline, in this process; its numbers as a dict."""
    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    peak = [0, 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss, pss = _tree_memory_bytes(os.getpid())
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.time()
    if kind == "torchvision":
        from torchvision import datasets, transforms

        from nasplug.data.sources import image_folder

        stats = image_folder(str(folder), cache_limit_mb=0).train  # the same normalisation numbers
        mean, std = stats.mean.flatten().tolist(), stats.std.flatten().tolist()
        size = stats.input_shape[-1]
        dataset = datasets.ImageFolder(str(folder / "train"), transform=transforms.Compose([
            transforms.ToTensor(), transforms.Normalize(mean, std),
            transforms.RandomCrop(size, padding=max(1, size // 8)), transforms.RandomHorizontalFlip()]))
    else:
        from nasplug.data.sources import image_folder

        dataset = image_folder(str(folder), cache_limit_mb=0).train
        size = dataset.input_shape[-1]
    setup = time.time() - started
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=False, generator=torch.Generator().manual_seed(seed))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(4),
                                torch.nn.Flatten(), torch.nn.Linear(16 * (size // 4) ** 2, CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, loss_sum, batches = 0, 0.0, 0
    started = time.time()
    for x, y in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        images += len(y)
        loss_sum += float(loss)
        batches += 1
    seconds = time.time() - started
    stop.set()
    sampler.join()
    return {"kind": kind, "images": images, "seconds": seconds, "images_per_s": images / seconds,
            "setup_s": setup, "peak_rss_gb": peak[0] / 2**30,
            "peak_pss_gb": peak[1] / 2**30, "mean_loss": loss_sum / max(1, batches)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/nasplug-imagefolder-bench"))
    parser.add_argument("--n", type=int, default=50_000, help="JPEGs to generate (default 50,000)")
    parser.add_argument("--size", type=int, default=32, help="pixels per side")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of both pipelines")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="epochs of each pipeline, alternating")
    parser.add_argument("--child", choices=("torchvision", "nasplug"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = args.folder / f"n{args.n}-s{args.size}"
    if args.child:
        print(json.dumps(child(args.child, folder, args.workers, args.batch_size, seed=0)))
        return 0
    generate(folder, args.n, args.size, args.workers)
    results: dict[str, list[dict]] = {"torchvision": [], "nasplug": []}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for round_ in range(args.rounds):
        for kind in ("torchvision", "nasplug"):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", str(args.folder),
                                  "--n", str(args.n), "--size", str(args.size), "--workers", str(args.workers),
                                  "--batch-size", str(args.batch_size)], env=env, check=True,
                                 capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results[kind].append(row)
            print(f"round {round_ + 1} {kind:11s}: {row['images']} images in {row['seconds']:.1f}s = "
                  f"{row['images_per_s']:.0f} img/s (set-up {row['setup_s']:.1f}s), peak RSS "
                  f"{row['peak_rss_gb']:.2f} GB (PSS {row['peak_pss_gb']:.2f} GB), mean loss {row['mean_loss']:.3f}", flush=True)
    best = {k: max(r["images_per_s"] for r in rows) for k, rows in results.items()}
    peak = max(r["peak_rss_gb"] for r in results["nasplug"])
    ratio = best["nasplug"] / best["torchvision"]
    print(f"torchvision ImageFolder: {best['torchvision']:.0f} img/s; nasplug streamed: {best['nasplug']:.0f} img/s; "
          f"nasplug_over_torchvision {ratio:.3f} (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}); "
          f"nasplug peak RSS {peak:.2f} GB (target < 2 GB: {'met' if peak < 2 else 'NOT met'}); "
          f"{args.n} JPEGs {args.size}x{args.size}, {args.workers} workers, batch {args.batch_size}")
    print(json.dumps({"torchvision_img_per_s": best["torchvision"], "nasplug_img_per_s": best["nasplug"],
                      "nasplug_over_torchvision": ratio, "nasplug_peak_rss_gb": peak, "images": args.n,
                      "size": args.size, "workers": args.workers, "rounds": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
