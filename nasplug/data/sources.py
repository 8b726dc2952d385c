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


def _refuse_unreadable(folder: Path) -> None:
    """A ConfigError naming the folder or class folders that cannot be listed, if any."""
    try:
        classes = sorted(p for p in folder.iterdir() if p.is_dir())
    except PermissionError:
        classes, unreadable = [], [str(folder)]
    else:
        unreadable = []
    for path in classes:
        try:
            os.listdir(path)
        except PermissionError:
            unreadable.append(str(path))
    if unreadable:
        raise ConfigError(f"image folder {str(folder)!r}: cannot read {', '.join(unreadable)} (permission denied); "
                          "give read access or remove it")


def _load_folder(folder: Path, size: int | None, limit: int | None = None, seed: int = 0):
    """Decode an ImageFolder tree into a uint8 tensor; with ``limit``, a seeded subset decoded alone."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(folder))
    except (FileNotFoundError, RuntimeError) as exc:  # no class folders, or class folders without images
        _refuse_unreadable(folder)  # torchvision's scan skips what it cannot list: say so, not "no images"
        raise ConfigError(f"image folder {str(folder)!r} holds no images in <class>/<image> sub-folders "
                          f"({(str(exc).splitlines() or [''])[0]})") from None
    if len(ds.classes) < 2:
        raise ConfigError(f"image folder {str(folder)!r} has {len(ds.classes)} class folder(s) "
                          f"({', '.join(ds.classes)}); classification needs at least 2")
    samples = ds.samples
    if limit is not None and limit < len(samples):
        if limit < 1:
            raise ConfigError(f"limit must be a positive number of images, got {limit!r}")
        keep = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        samples = [samples[i] for i in keep.tolist()]
    images, bad = [], []
    for path, _ in samples:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                images.append(torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1))
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated or garbled files
            bad.append(f"{path} ({(str(exc).splitlines() or [type(exc).__name__])[0]})")
    if bad:
        # stop rather than skip: a search on silently fewer images is a different search than the one asked for
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ConfigError(f"{len(bad)} image(s) under {str(folder)!r} cannot be decoded: {shown}; "
                          "remove or replace them")
    if not images:
        raise ConfigError(f"no images found under {str(folder)!r}")
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) > 1:
        raise ConfigError(f"images under {str(folder)!r} differ in size {sorted(shapes)[:3]}...; pass size=N to resize")
    return torch.stack(images), torch.tensor([label for _, label in samples]), tuple(ds.classes)


def image_folder(root: str | None = None, size: int | None = None, test_fraction: float = 0.2, augment: bool = True,
                 flip: bool = True, limit_train: int | None = None, limit_test: int | None = None,
                 split_seed: int = 0, **unknown) -> DataBundle:
    """Any ``ImageFolder``-style tree (``root/<class>/<image>``).

    If ``root`` has ``train/`` and ``test/`` sub-folders they are used as the
    two splits; otherwise a seeded ``test_fraction`` of ``root`` is held out.
    Images are decoded once and kept in memory.
    """
    _reject(unknown, "imagefolder", ["root", "size", "test_fraction", "augment", "flip", "limit_train",
                                     "limit_test", "split_seed"])
    _check_common("imagefolder", root=root, test_fraction=test_fraction, augment=augment, flip=flip,
                  limit_train=limit_train, limit_test=limit_test, split_seed=split_seed)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE):
        raise ConfigError(f"imagefolder size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] (pixels per side), "
                          f"got {size!r}")
    if root is None:
        raise ConfigError("imagefolder needs root=PATH, a folder of <class>/<image> sub-folders")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"image folder {str(path)!r} does not exist")
    if (path / "train").is_dir() and (path / "test").is_dir():
        x_train, y_train, classes = _load_folder(path / "train", size, limit_train, split_seed)
        x_test, y_test, test_classes = _load_folder(path / "test", size, limit_test, split_seed)
        if test_classes != classes:
            raise ConfigError(f"train classes {classes} and test classes {test_classes} differ under {str(path)!r}")
    else:
        images, labels, classes = _load_folder(path, size)
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(split_seed))
        cut = int(round(len(images) * test_fraction))
        x_test, y_test = images[perm[:cut]], labels[perm[:cut]]
        x_train, y_train = images[perm[cut:]], labels[perm[cut:]]
    x_train, y_train = take(x_train, y_train, limit_train, split_seed, "limit_train")
    x_test, y_test = take(x_test, y_test, limit_test, split_seed, "limit_test")
    return _bundle(f"imagefolder:{path.name}", x_train, y_train, x_test, y_test, len(classes), classes,
                   augment, pad=max(1, x_train.shape[-1] // 8), flip=flip)


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
        elif name == "root":
            if value is not None and not isinstance(value, str):
                fail(name, value, "a folder path")


def _reject(unknown: dict, dataset: str, allowed: list[str]) -> None:
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for dataset {dataset!r}; allowed: {', '.join(allowed)}")
