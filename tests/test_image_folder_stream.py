"""Image folders: the safe scan (links, FIFOs), one-line decode errors, and streaming vs the in-memory cache."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from nasplug.data.sources import image_folder
from nasplug.data.streaming import StreamingImageDataset
from nasplug.errors import ConfigError


def _folder(root, per_class=6, size=12, classes=("a", "b")):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _with_timeout(fn, seconds=20.0):
    """``fn()`` in a thread: a scan that blocks (on a FIFO) fails the test instead of hanging it."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for {seconds}s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_streamed_folder_gives_the_cached_folder_images_batch_for_batch(tmp_path):
    root = _folder(tmp_path / "imgs")
    cached = image_folder(str(root), augment=False)
    streamed = image_folder(str(root), augment=False, cache_limit_mb=0)
    assert isinstance(streamed.train, StreamingImageDataset) and not isinstance(cached.train, StreamingImageDataset)
    assert streamed.input_shape == cached.input_shape == (3, 12, 12)
    assert len(streamed.train) == len(cached.train) and len(streamed.test) == len(cached.test)
    # the same split, the same labels; the stats come from (here: all of) the same images
    assert torch.equal(streamed.train.labels, cached.train.labels)
    assert torch.allclose(streamed.train.mean, cached.train.mean) and torch.allclose(streamed.train.std, cached.train.std)
    for i in range(len(cached.train)):
        assert torch.allclose(streamed.train[i][0], cached.train[i][0], atol=1e-6)
    # decoded in DataLoader workers, the same batches
    loader = DataLoader(streamed.train, batch_size=4, num_workers=2)
    first = next(iter(loader))[0]
    assert torch.allclose(first, torch.stack([cached.train[i][0] for i in range(4)]), atol=1e-6)


def test_a_limit_picks_the_same_images_streamed_or_cached(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=10)
    cached = image_folder(str(root), augment=False, limit_train=5, split_seed=3)
    streamed = image_folder(str(root), augment=False, limit_train=5, split_seed=3, cache_limit_mb=0)
    assert len(streamed.train) == 5
    assert torch.equal(streamed.train.labels, cached.train.labels)


def test_cache_limit_must_be_a_non_negative_number(tmp_path):
    with pytest.raises(ConfigError, match="cache_limit_mb must be a number >= 0.*got -1"):
        image_folder(str(_folder(tmp_path / "imgs")), cache_limit_mb=-1)


@pytest.mark.parametrize("stream", [False, True])
def test_a_symlinked_folder_leaving_the_root_is_refused_by_name(tmp_path, stream):
    root = _folder(tmp_path / "imgs")
    _folder(tmp_path / "elsewhere", classes=("c",))
    os.symlink(tmp_path / "elsewhere" / "c", root / "a" / "more")
    with pytest.raises(ConfigError, match=r"symbolic link '.*/a/more' points outside the folder"):
        _with_timeout(lambda: image_folder(str(root), cache_limit_mb=0 if stream else 1024))


def test_a_symlink_loop_is_refused_by_name(tmp_path):
    root = _folder(tmp_path / "imgs")
    os.symlink(root / "a", root / "a" / "again")  # a/again -> a: torchvision's scan walks it forever
    with pytest.raises(ConfigError, match=r"symbolic link '.*/a/again' loops back"):
        _with_timeout(lambda: image_folder(str(root)))


def test_a_symlinked_image_inside_the_root_is_fine(tmp_path):
    root = _folder(tmp_path / "imgs")
    os.symlink(root / "a" / "0.png", root / "b" / "linked.png")
    assert len(image_folder(str(root), test_fraction=0.25).train) == 10  # 13 images, 3 held out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_png_is_refused_without_being_opened(tmp_path):
    root = _folder(tmp_path / "imgs")
    os.mkfifo(root / "a" / "pipe.png")  # opening it for reading would block forever
    with pytest.raises(ConfigError, match=r"'.*/a/pipe.png' is not a regular file \(a FIFO\)"):
        _with_timeout(lambda: image_folder(str(root)))


def test_a_decompression_bomb_is_a_one_line_error_naming_the_file(tmp_path, monkeypatch):
    from PIL import Image

    root = _folder(tmp_path / "imgs")
    Image.new("L", (300, 300)).save(root / "b" / "bomb.png")  # 90,000 pixels, over the limit set below
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for limit in (1024, 0):  # cached, then streamed (the error comes from the item)
        with pytest.raises(ConfigError) as info:
            bundle = image_folder(str(root), cache_limit_mb=limit, test_fraction=0.1)
            [bundle.train[i] for i in range(len(bundle.train))] + [bundle.test[i] for i in range(len(bundle.test))]
        message = str(info.value)
        assert "bomb.png" in message and "decompression bomb" in message and "\n" not in message


def test_a_truncated_image_is_a_one_line_error_naming_the_file(tmp_path):
    root = _folder(tmp_path / "imgs")
    data = (root / "a" / "0.png").read_bytes()
    (root / "a" / "broken.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError) as info:
        image_folder(str(root))
    assert "broken.png" in str(info.value) and "\n" not in str(info.value)


def test_streaming_a_large_folder_keeps_only_paths_in_memory(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=40)
    bundle = image_folder(str(root), cache_limit_mb=0)
    assert not hasattr(bundle.train, "images")
    assert bundle.train.paths.dtype.kind == "U"  # one numpy array: shared by forked workers without copies
    assert sys.getsizeof(bundle.train.paths) < 64 * 1024


@pytest.mark.parametrize("root", ["", "   "])
def test_an_empty_root_is_refused_not_read_as_the_current_folder(root, tmp_path, monkeypatch):
    """``--data-option root=$DATA`` with DATA unset gives root="": Path("") is ".", which used to search
    whatever image tree the command happened to run in, without a word."""
    monkeypatch.chdir(_folder(tmp_path / "cwd"))
    with pytest.raises(ConfigError, match="root=.* it must be a non-empty folder path"):
        image_folder(root)


def test_a_root_that_is_a_file_is_named_as_a_file(tmp_path):
    (tmp_path / "imgs").write_text("x")
    with pytest.raises(ConfigError, match="imgs' is a file, not a folder"):
        image_folder(str(tmp_path / "imgs"))
