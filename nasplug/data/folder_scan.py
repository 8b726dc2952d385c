"""Finding the images of an ``ImageFolder`` tree (``root/<class>/<image>``) safely.

torchvision's scan follows every symbolic link and opens whatever has an
image suffix.  On a shared or user-made tree that means a link loop walks
forever, a link to ``/`` scans the whole machine, and a FIFO named
``x.png`` blocks the first reader for good.  This scan walks the tree
itself: a symbolic link (to a file or a folder) that leaves the root or
leads back into a folder being walked is refused with its name, and
anything that is not a regular file (FIFO, socket, device) is refused after
an ``lstat``/``stat``, without being opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nasplug.errors import ConfigError

#: torchvision's IMG_EXTENSIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _resolved_link(entry: os.DirEntry, root: Path, walking: tuple[Path, ...]) -> Path:
    """Where a symbolic link points, if it stays inside ``root`` and does not loop; else a ConfigError."""
    target = Path(os.path.realpath(entry.path))
    if not _inside(target, root):
        raise ConfigError(f"image folder {str(root)!r}: symbolic link {entry.path!r} points outside the folder "
                          f"(to {str(target)!r}); copy the images in or remove the link")
    if target in walking:
        raise ConfigError(f"image folder {str(root)!r}: symbolic link {entry.path!r} loops back to "
                          f"{str(target)!r}; remove the link")
    return target


def _entries(folder: Path, root: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` by name; one that cannot be listed is named as unreadable, not as empty."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except PermissionError:
        raise ConfigError(f"image folder {str(root)!r}: cannot read {str(folder)!r} (permission denied); give "
                          "read access or remove it") from None


def _files(folder: Path, root: Path, walking: tuple[Path, ...]) -> list[str]:
    """Image paths under ``folder`` (sorted, recursively), every entry checked before it is used."""
    found: list[str] = []
    for entry in _entries(folder, root):
        target = _resolved_link(entry, root, walking) if entry.is_symlink() else Path(entry.path)
        try:
            mode = os.stat(target).st_mode  # stat, never open: a FIFO would block the reader
        except OSError as exc:
            raise ConfigError(f"image folder {str(root)!r}: cannot read {entry.path!r} ({exc.strerror})") from None
        if stat.S_ISDIR(mode):
            found.extend(_files(Path(entry.path), root, walking + (target,)))
        elif not entry.name.lower().endswith(IMAGE_SUFFIXES):
            continue
        elif not stat.S_ISREG(mode):
            raise ConfigError(f"image folder {str(root)!r}: {entry.path!r} is not a regular file "
                              f"({_kind(mode)}); remove it")
        else:
            found.append(entry.path)
    return found


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"


def scan_image_folder(folder: str | Path) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    """``(samples, classes)`` as torchvision's ``ImageFolder`` lists them: (path, class index), classes sorted.

    A class folder without images is an error, as in torchvision.
    """
    root = Path(os.path.realpath(folder))
    if not root.is_dir():
        raise ConfigError(f"image folder {str(folder)!r} does not exist")
    classes: list[tuple[str, Path]] = []
    for entry in _entries(root, root):
        target = _resolved_link(entry, root, (root,)) if entry.is_symlink() else Path(entry.path)
        if target.is_dir():
            classes.append((entry.name, target))
    if not classes:
        raise ConfigError(f"image folder {str(folder)!r} holds no images in <class>/<image> sub-folders "
                          "(no class folders)")
    samples: list[tuple[str, int]] = []
    for index, (name, target) in enumerate(classes):
        files = _files(root / name, root, (root, target))
        if not files:
            raise ConfigError(f"image folder {str(folder)!r} holds no images in <class>/<image> sub-folders "
                              f"(class folder {name!r} has no {', '.join(IMAGE_SUFFIXES)} files)")
        samples.extend((path, index) for path in files)
    return samples, tuple(name for name, _ in classes)
