"""The images of a run: the training images the perturbation is computed on, and held-out ones.

Example:
    >>> splits = build_splits(None, 4, 2, seed=0)  # the photos bundled with scikit-image
    >>> len(splits.train), len(splits.val), splits.source
    (4, 2, 'bundled scikit-image photos')
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax

from imagenet import data


class Splits(NamedTuple):
    """The training images (the perturbation is computed on them) and the held-out ones."""

    train: list[data.Item]
    val: list[data.Item]
    source: str
    data_dir: str | None = None  # None: the bundled photos
    duplicates: int = 0  # files of the folder dropped because they were already listed (links)


def build_splits(data_dir: str | None, images: int, val: int, seed: int) -> Splits:
    """Training / held-out items from a folder, or from the bundled photos if ``data_dir`` is None.

    Raises:
      data.DataError: missing or empty folder, or too few images for the split.
    """
    k_split = jax.random.split(jax.random.key(seed), 2)[0]
    if data_dir is None:
        train, held = data.bundled_splits(images, val, k_split)
        return Splits(train, held, "bundled scikit-image photos")
    listing = data.folder_listing(data_dir)
    train, held = data.split_items(listing.items, images, val, k_split)
    path = str(Path(data_dir).resolve())
    return Splits(train, held, path, path, listing.duplicates)


def without_labels(items: list[data.Item]) -> list[data.Item]:
    """The same images with their labels unknown (-1): folder labels are ImageNet-1k class ids, which mean
    nothing to a model of another class count."""
    return [item._replace(label=data.UNKNOWN) for item in items]
