"""Data sources: digits (bundled), the image-folder path on real CIFAR-10 JPEGs, tensors, splits."""

import pytest
import torch

from nasplug.data import search_split
from nasplug.data.sources import digits, image_folder, tensors
from nasplug.errors import ConfigError

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("NASPLUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

CIFAR_JPEG = SHARED_DATA / "cifar10-jpeg"


def test_digits_fixed_stratified_test_split():
    a, b = digits(), digits()
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert len(a.train) + len(a.test) == 1797
    assert torch.equal(a.test.images, b.test.images)
    counts = torch.bincount(a.test.labels, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~20% of each class
    x, y = a.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32


def test_search_split_is_seeded_disjoint_and_covers_train():
    data = digits()
    t1, v1 = search_split(data.train, 0.5, seed=0)
    t2, v2 = search_split(data.train, 0.5, seed=0)
    t3, _ = search_split(data.train, 0.5, seed=1)
    assert t1.indices == t2.indices and t1.indices != t3.indices
    assert not set(t1.indices) & set(v1.indices)
    assert sorted(t1.indices + v1.indices) == list(range(len(data.train)))
    with pytest.raises(ConfigError, match="train_portion must be in \\(0, 1\\), got 1.0"):
        search_split(data.train, 1.0, 0)


def test_unknown_dataset_option_is_named():
    with pytest.raises(ConfigError, match="unknown option\\(s\\) \\['rooot'\\] for dataset 'digits'"):
        digits(rooot="x")


def test_augment_keeps_shape_and_changes_pixels():
    data = digits(augment=True)
    torch.manual_seed(0)
    xs = torch.stack([data.train[5][0] for _ in range(20)])
    assert xs.shape == (20, 1, 8, 8)
    assert (xs - xs[0]).abs().sum() > 0


def test_tensors_source():
    x = torch.randint(0, 255, (20, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(20) % 4
    data = tensors(x, y, x[:4], y[:4])
    assert data.num_classes == 4 and data.input_shape == (3, 8, 8)


def test_image_folder_missing_path_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        image_folder(root=str(tmp_path / "nope"))


@pytest.mark.skipif(not CIFAR_JPEG.is_dir(), reason=f"CIFAR-10 JPEG folder not found at {CIFAR_JPEG}")
def test_image_folder_reads_real_cifar10_jpegs():
    data = image_folder(root=str(CIFAR_JPEG), limit_train=500, limit_test=100)
    assert data.input_shape == (3, 32, 32)
    assert data.num_classes == 10 and "airplane" in data.classes
    assert len(data.train) == 500 and len(data.test) == 100
    mean = data.train.images.float().mean() / 255
    assert 0.3 < float(mean) < 0.7
