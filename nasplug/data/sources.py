"""Where data comes from: the bundled digits, CIFAR through torchvision, an image folder, tensors.

Nothing here downloads unless the caller passes ``download=True``; a missing
path is an error that names it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nasplug.data.bundle import DataBundle, ImageTensorDataset, channel_stats, take
from nasplug.errors import ConfigError


def _bundle(name, x_train, y_train, x_test, y_test, num_classes, classes, augment, pad, flip):
    mean, std = channel_stats(x_train)
    train = ImageTensorDataset(x_train, y_train, mean, std, augment=augment, pad=pad, flip=flip)
    test = ImageTensorDataset(x_test, y_test, mean, std, augment=False)
    return DataBundle(name, train, test, num_classes, classes)


def digits(test_fraction: float = 0.2, split_seed: int = 0, augment: bool = False, limit_train: int | None = None,
           **unknown) -> DataBundle:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, no download).

    The test split is a fixed, seeded, stratified ``test_fraction`` of the
    images, the same for every search seed.
    """
    _reject(unknown, "digits", ["test_fraction", "split_seed", "augment", "limit_train"])
    _check_common("digits", test_fraction=test_fraction, split_seed=split_seed, augment=augment,
                  limit_train=limit_train)
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.from_numpy((raw.images * (255.0 / 16.0)).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(raw.target.astype(np.int64))
    rng = np.random.default_rng(split_seed)
    test_idx = []
    for c in range(10):  # stratified hold-out
        idx = np.flatnonzero(raw.target == c)
        test_idx.extend(rng.permutation(idx)[: int(round(len(idx) * test_fraction))].tolist())
    mask = np.ones(len(labels), dtype=bool)
    mask[test_idx] = False
    train_idx = torch.from_numpy(np.flatnonzero(mask))
    test_idx_t = torch.tensor(sorted(test_idx))
    x_train, y_train = take(images[train_idx], labels[train_idx], limit_train, split_seed, "limit_train")
    return _bundle("digits", x_train, y_train, images[test_idx_t], labels[test_idx_t], 10,
                   [str(c) for c in range(10)], augment, pad=1, flip=False)


def cifar(num_classes: int = 10, root: str | None = None, download: bool = False, augment: bool = True,
          limit_train: int | None = None, limit_test: int | None = None, split_seed: int = 0,
          **unknown) -> DataBundle:
    """CIFAR-10/100 through torchvision from ``root`` (downloaded there only with ``download=True``)."""
    _reject(unknown, f"cifar{num_classes}", ["root", "download", "augment", "limit_train", "limit_test", "split_seed"])
    _check_common(f"cifar{num_classes}", root=root, download=download, augment=augment, limit_train=limit_train,
                  limit_test=limit_test, split_seed=split_seed)
    import torchvision

    if root is None:
        raise ConfigError(f"cifar{num_classes} needs root=PATH (a folder with the torchvision CIFAR files); "
                          "pass download=True to fetch them there")
    cls = {10: torchvision.datasets.CIFAR10, 100: torchvision.datasets.CIFAR100}[num_classes]
    try:
        train = cls(root=str(root), train=True, download=download)
        test = cls(root=str(root), train=False, download=download)
    except RuntimeError as exc:
        raise ConfigError(f"CIFAR-{num_classes} not found under {root!r} ({exc}); pass download=True to fetch it") from exc

    def to_tensor(ds):
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)

    x_train, y_train = take(*to_tensor(train), limit_train, split_seed, "limit_train")
    x_test, y_test = take(*to_tensor(test), limit_test, split_seed, "limit_test")
    return _bundle(f"cifar{num_classes}", x_train, y_train, x_test, y_test, num_classes, train.classes,
                   augment, pad=4, flip=True)


#: folders whose decoded images fit in this many MiB are decoded once and kept in memory (exact stats, fast
#: epochs); larger ones are streamed from disk in the DataLoader's workers
CACHE_LIMIT_MB = 1024
#: images a streamed folder's channel mean and std are estimated from (a seeded sample)
STATS_SAMPLE = 512


def _scan(folder: Path, limit: int | None = None, seed: int = 0):
    """The (path, label) samples and classes of a folder; with ``limit``, a seeded subset."""
    from nasplug.data.folder_scan import scan_image_folder

    samples, classes = scan_image_folder(folder)
    if len(classes) < 2:
        raise ConfigError(f"image folder {str(folder)!r} has {len(classes)} class folder(s) "
                          f"({', '.join(classes)}); classification needs at least 2")
    if limit is not None and limit < len(samples):
        if limit < 1:
            raise ConfigError(f"limit must be a positive number of images, got {limit!r}")
        keep = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        samples = [samples[i] for i in keep.tolist()]
    return samples, classes


def _decode_all(folder: Path, samples, size: int | None):
    """Every image of ``samples`` decoded into one uint8 tensor (the in-memory cache)."""
    from nasplug.data.streaming import ImageFileError, decode_image

    images, bad = [], []
    for path, _ in samples:
        try:
            images.append(decode_image(path, size))
        except ImageFileError as exc:
            bad.append(str(exc))
    if bad:
        # stop rather than skip: a search on silently fewer images is a different search than the one asked for
        shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ConfigError(f"{len(bad)} image(s) under {str(folder)!r} cannot be used: {shown}")
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) > 1:
        raise ConfigError(f"images under {str(folder)!r} differ in size {sorted(shapes)[:3]}...; pass size=N to resize")
    return torch.stack(images), torch.tensor([label for _, label in samples])


def _stream(samples, size: int | None, seed: int):
    """A streamed dataset of ``samples`` (not yet normalised: stats from a seeded sample)."""
    from nasplug.data.streaming import StreamingImageDataset, decode_image

    labels = torch.tensor([label for _, label in samples])
    picked = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:STATS_SAMPLE]
    sample = torch.stack([decode_image(samples[i][0], size) for i in picked.tolist()]) if size else None
    if sample is None:  # without a size the sampled images must agree on one
        decoded = [decode_image(samples[i][0], None) for i in picked.tolist()]
        shapes = {tuple(d.shape) for d in decoded}
        if len(shapes) > 1:
            raise ConfigError(f"images differ in size {sorted(shapes)[:3]}...; pass size=N to resize")
        sample = torch.stack(decoded)
    mean, std = channel_stats(sample)
    return StreamingImageDataset([p for p, _ in samples], labels, mean, std, size, tuple(sample.shape[1:]))


def _decoded_mb(samples, size: int | None) -> float:
    from nasplug.data.streaming import decode_image

    first = decode_image(samples[0][0], size)
    return len(samples) * first.numel() / 2**20


def image_folder(root: str | None = None, size: int | None = None, test_fraction: float = 0.2, augment: bool = True,
                 flip: bool = True, limit_train: int | None = None, limit_test: int | None = None,
                 split_seed: int = 0, cache_limit_mb: float = CACHE_LIMIT_MB, **unknown) -> DataBundle:
    """Any ``ImageFolder``-style tree (``root/<class>/<image>``).

    If ``root`` has ``train/`` and ``test/`` sub-folders they are used as the
    two splits; otherwise a seeded ``test_fraction`` of ``root`` is held out.
    A folder whose decoded images fit in ``cache_limit_mb`` MiB is decoded once
    and kept in memory; a larger one (or any, with ``cache_limit_mb=0``) is
    streamed: each image is decoded when a batch needs it, in the DataLoader's
    workers (``num_workers``), with the channel statistics estimated from
    a seeded sample of images.  The scan refuses symbolic links that leave
    the folder or loop, and files that are not regular files.
    """
    _reject(unknown, "imagefolder", ["root", "size", "test_fraction", "augment", "flip", "limit_train",
                                     "limit_test", "split_seed", "cache_limit_mb"])
    _check_common("imagefolder", root=root, test_fraction=test_fraction, augment=augment, flip=flip,
                  limit_train=limit_train, limit_test=limit_test, split_seed=split_seed)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE):
        raise ConfigError(f"imagefolder size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] (pixels per side), "
                          f"got {size!r}")
    if isinstance(cache_limit_mb, bool) or not isinstance(cache_limit_mb, (int, float)) or not cache_limit_mb >= 0:
        raise ConfigError(f"imagefolder cache_limit_mb must be a number >= 0 (MiB; 0 streams every folder), "
                          f"got {cache_limit_mb!r}")
    if root is None:
        raise ConfigError("imagefolder needs root=PATH, a folder of <class>/<image> sub-folders")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"image folder {str(path)!r} " + ("is a file, not a folder" if path.exists() else
                                                            "does not exist"))
    split = (path / "train").is_dir() and (path / "test").is_dir()
    if split:
        train_samples, classes = _scan(path / "train", limit_train, split_seed)
        test_samples, test_classes = _scan(path / "test", limit_test, split_seed)
        if test_classes != classes:
            raise ConfigError(f"train classes {classes} and test classes {test_classes} differ under {str(path)!r}")
    else:
        samples, classes = _scan(path)
        perm = torch.randperm(len(samples), generator=torch.Generator().manual_seed(split_seed)).tolist()
        cut = int(round(len(samples) * test_fraction))
        test_samples, train_samples = [samples[i] for i in perm[:cut]], [samples[i] for i in perm[cut:]]
    train_samples = _limited(train_samples, limit_train, split_seed)
    test_samples = _limited(test_samples, limit_test, split_seed)
    if _decoded_mb(train_samples + test_samples, size) > cache_limit_mb:
        return _streamed_bundle(path, train_samples, test_samples, classes, size, augment, flip)
    if split:
        x_train, y_train = _decode_all(path / "train", train_samples, size)
        x_test, y_test = _decode_all(path / "test", test_samples, size)
    else:  # one decode of both parts, so one error names every bad image and every size, then split
        images, labels = _decode_all(path, train_samples + test_samples, size)
        n = len(train_samples)
        x_train, y_train, x_test, y_test = images[:n], labels[:n], images[n:], labels[n:]
    return _bundle(f"imagefolder:{path.name}", x_train, y_train, x_test, y_test, len(classes), classes,
                   augment, pad=max(1, x_train.shape[-1] // 8), flip=flip)


def _limited(samples, limit: int | None, seed: int):
    """``take``'s seeded subset, on the file list (the same images in the same order)."""
    if limit is None or limit >= len(samples):
        return samples
    return [samples[i] for i in torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:limit]]


def _streamed_bundle(path: Path, train_samples, test_samples, classes, size, augment, flip) -> DataBundle:
    from nasplug.data.streaming import StreamingImageDataset

    train = _stream(train_samples, size, seed=0)
    mean, std = train.mean.flatten().tolist(), train.std.flatten().tolist()
    pad = max(1, train.input_shape[-1] // 8)

    def dataset(samples, with_augment):
        return StreamingImageDataset([p for p, _ in samples], torch.tensor([label for _, label in samples]), mean,
                                     std, size, train.input_shape, augment=with_augment, pad=pad, flip=flip)

    return DataBundle(f"imagefolder:{path.name}", dataset(train_samples, augment), dataset(test_samples, False),
                      len(classes), classes)


def tensors(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
            num_classes: int | None = None, augment: bool = False, name: str = "tensors") -> DataBundle:
    """A user's own tensors: images (N, C, H, W) as uint8 0..255 or floats, integer labels."""
    if num_classes is None:
        num_classes = int(max(int(y_train.max()), int(y_test.max())) + 1)
    return _bundle(name, x_train, y_train, x_test, y_test, num_classes,
                   [str(c) for c in range(num_classes)], augment, pad=max(1, x_train.shape[-1] // 8), flip=False)


#: smaller images leave nothing for the spaces' stride-2 reductions; larger ones do not fit in memory as tensors
MIN_SIZE, MAX_SIZE = 4, 1024


def _check_common(dataset: str, **options) -> None:
    """Type and range checks of the options several datasets share, each error naming the option."""
    def fail(name, value, allowed):
        raise ConfigError(f"dataset {dataset!r} option {name}={value!r} is not allowed; it must be {allowed}")

    for name, value in options.items():
        if name in ("augment", "flip", "download"):
            if not isinstance(value, bool):
                fail(name, value, "true or false")
        elif name == "test_fraction":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
                fail(name, value, "a number strictly between 0 and 1")
        elif name in ("limit_train", "limit_test"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                fail(name, value, "a positive integer (a number of examples)")
        elif name == "split_seed":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
                fail(name, value, f"an integer in [0, {2**32 - 1}]")
        elif name == "root":  # "" (`root=$DATA` with DATA unset) would be Path("") == ".": wherever nasplug runs
            if value is not None and (not isinstance(value, str) or not value.strip()):
                fail(name, value, "a non-empty folder path")


def _reject(unknown: dict, dataset: str, allowed: list[str]) -> None:
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for dataset {dataset!r}; allowed: {', '.join(allowed)}")
