"""The data a search or a retraining run needs, whatever its source.

Most sources end up as uint8 or float image tensors held in memory: the
datasets NAS is run on at this scale (digits, CIFAR, a user's folder of small
images) fit easily, and a tensor dataset makes epochs cheap and exactly
reproducible from the seed.  An image folder too large for that is streamed
from disk instead (:mod:`nasplug.data.streaming`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import attrs
import torch
from torch.utils.data import Dataset, Subset

from nasplug.errors import ConfigError


class ImageTensorDataset(Dataset):
    """Images (N, C, H, W) and labels (N,), normalised on access, augmented when asked.

    Augmentation is the DARTS/CIFAR recipe: a random crop after zero padding
    and, for natural images, a horizontal flip. It draws from torch's global
    generator, which the search checkpoints, so resumed runs replay it.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 augment: bool = False, pad: int = 4, flip: bool = True):
        if images.ndim != 4:
            raise ConfigError(f"images must be a (N, C, H, W) tensor, got shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ConfigError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.augment, self.pad, self.flip = augment, pad, flip

    def __len__(self) -> int:
        return len(self.images)

    def with_augment(self, augment: bool) -> "ImageTensorDataset":
        return ImageTensorDataset(self.images, self.labels, self.mean.flatten().tolist(),
                                  self.std.flatten().tolist(), augment, self.pad, self.flip)

    def __getitem__(self, index):
        x = self.images[index]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        x = (x - self.mean) / self.std
        if self.augment:
            x = self._augment(x)
        return x, self.labels[index]

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return crop_flip(x, self.pad, self.flip)


def crop_flip(x: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """A random crop of ``x`` (C, H, W) after zero padding by ``pad``, then a coin-flip mirror if ``flip``."""
    if pad > 0:
        _, h, w = x.shape
        padded = torch.nn.functional.pad(x, (pad,) * 4)
        i, j = torch.randint(0, 2 * pad + 1, (2,)).tolist()
        x = padded[:, i:i + h, j:j + w]
    if flip and bool(torch.rand(()) < 0.5):
        x = x.flip(-1)
    return x


@attrs.frozen(eq=False)
class DataBundle:
    """A training set (searched and retrained on) and a held-out test set."""

    name: str
    train: ImageTensorDataset  # or a StreamingImageDataset (nasplug.data.streaming) for a large folder
    test: ImageTensorDataset
    num_classes: int
    classes: tuple[str, ...] = attrs.field(converter=tuple, default=())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        streamed = getattr(self.train, "input_shape", None)  # a streamed folder knows it without the images
        return tuple(streamed) if streamed is not None else tuple(self.train.images.shape[1:])  # type: ignore


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of images scaled to [0, 1]."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()


def search_split(dataset: Dataset, train_portion: float, seed: int) -> tuple[Subset, Subset]:
    """Split a training set into the weight half and the architecture half of bi-level search.

    The split depends only on ``seed``; the test set is never touched.
    """
    if not 0.0 < train_portion < 1.0:
        raise ConfigError(f"train_portion must be in (0, 1), got {train_portion!r}")
    n = len(dataset)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    cut = int(round(n * train_portion))
    if cut < 1 or cut >= n:
        raise ConfigError(f"train_portion {train_portion} leaves an empty split of {n} examples")
    return Subset(dataset, perm[:cut]), Subset(dataset, perm[cut:])


def take(images: torch.Tensor, labels: torch.Tensor, limit: int | None, seed: int,
         what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``limit`` examples (for quick runs on big data)."""
    if limit is None or limit >= len(images):
        return images, labels
    if limit < 1:
        raise ConfigError(f"{what} must be a positive number of examples, got {limit!r}")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:limit]
    return images[idx], labels[idx]


Loader = Callable[..., DataBundle]
