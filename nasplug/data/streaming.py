"""Image folders too large for memory: decoded per item, in the DataLoader's workers.

:class:`StreamingImageDataset` holds only the file list; ``__getitem__``
opens, decodes, resizes, normalises and augments one image, so with
``num_workers > 0`` all of that runs in the worker processes and memory stays
bounded by the prefetched batches whatever the number of images.  Its
augmentation is :class:`~nasplug.data.bundle.ImageTensorDataset`'s (the same
crop and flip from torch's generator, which a DataLoader worker seeds per
worker).

:func:`decode_image` is the one place a file becomes a tensor, for this
dataset and for the in-memory cache of small folders: a truncated file,
one that is not an image, or one PIL refuses as a decompression bomb is a
one-line :class:`~nasplug.errors.ConfigError` naming the file.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from nasplug.data.bundle import crop_flip
from nasplug.errors import ConfigError


class ImageFileError(ConfigError):
    """An image file cannot be decoded (named in the message)."""


def decode_image(path: str, size: int | None) -> torch.Tensor:
    """One image as a (3, H, W) uint8 tensor, resized to ``size`` x ``size`` when given."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # PIL warns below its bomb limit and raises above twice it: both mean "not a training image"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = img.convert("RGB")
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageFileError(f"image {path!r} is refused as a decompression bomb "
                             f"({_first_line(exc)}); remove it or shrink it") from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated or garbled files
        raise ImageFileError(f"image {path!r} cannot be decoded ({_first_line(exc)}); remove or replace it") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class StreamingImageDataset(Dataset):
    """Files and labels, decoded on access; normalised and augmented like :class:`ImageTensorDataset`."""

    def __init__(self, paths: Sequence[str], labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 size: int | None, shape: tuple[int, int, int], augment: bool = False, pad: int = 4,
                 flip: bool = True):
        if len(paths) != len(labels):
            raise ConfigError(f"{len(paths)} images but {len(labels)} labels")
        # a numpy array of strings, not a list of Python str: forked workers then share it without
        # copy-on-write page faults from reference counts (the torch DataLoader memory "leak")
        self.paths = np.array(paths)
        self.labels = labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.size, self.input_shape = size, tuple(shape)
        self.augment, self.pad, self.flip = augment, pad, flip

    def __len__(self) -> int:
        return len(self.paths)

    def with_augment(self, augment: bool) -> "StreamingImageDataset":
        return StreamingImageDataset(self.paths.tolist(), self.labels, self.mean.flatten().tolist(),
                                     self.std.flatten().tolist(), self.size, self.input_shape, augment, self.pad,
                                     self.flip)

    def subset(self, index: torch.Tensor) -> "StreamingImageDataset":
        """The images at ``index`` (a split or a limit), nothing decoded."""
        keep = index.tolist()
        return StreamingImageDataset(self.paths[keep].tolist(), self.labels[index], self.mean.flatten().tolist(),
                                     self.std.flatten().tolist(), self.size, self.input_shape, self.augment,
                                     self.pad, self.flip)

    def __getitem__(self, index):
        path = str(self.paths[index])
        x = decode_image(path, self.size)
        if tuple(x.shape) != self.input_shape:
            raise ImageFileError(f"image {path!r} is {tuple(x.shape)[1:]} pixels, the folder's first image "
                                 f"{self.input_shape[1:]}; pass size=N to resize them all")
        x = (x.float() / 255.0 - self.mean) / self.std
        if self.augment:
            x = crop_flip(x, self.pad, self.flip)  # the same crop and flip as the in-memory datasets
        return x, self.labels[index]
