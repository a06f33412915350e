"""The image input pipeline: image folders and the bundled photos, split, decoded in parallel.

Sources:
  * an ImageNet-style or a flat folder, listed by :mod:`imagenet.folders` (each file
    once, by its real path; labels from synset folders or validation file names);
  * no folder: the real photos bundled with scikit-image (:func:`bundled_items`).

Decoding never fails a run. Files are read under the one image policy of
:mod:`imagenet.images` (accepted modes and their conversion to RGB, the size
limits checked from the header); a file it refuses is masked out of its batch
and counted by reason (:data:`SKIP_REASONS`): not an image, truncated, too small,
too large, or another decode error.

Batches are fixed slices of the item list (a bad file leaves a masked hole,
it does not shift later images), so the same item list always gives the same
batches, whichever host decodes which rows and however a run is resumed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import os
from typing import Callable, Iterator, NamedTuple, Sequence

import jax
import numpy as np

from imagenet import images
# the folder listing's names, used by the pipeline and read from here by the commands
from imagenet.folders import (IMAGE_EXTENSIONS, UNKNOWN, DataError, Item, Listing, file_label,
                              folder_items, folder_listing, wnid_to_label)

SKIP_REASONS = images.REASONS
MIN_SIDE = images.MIN_SIDE

# The scikit-image photos used when no --data is given: (file in skimage.data, ImageNet label or -1).
# Labels only where one ImageNet class is clearly right; a cat (tabby? tiger cat?), an
# astronaut (no person class) or a rocket (missile? space shuttle?) stay unknown.
BUNDLED_PHOTOS = (
    ("coffee.png", 967),  # espresso
    ("chelsea.png", UNKNOWN),
    ("astronaut.png", UNKNOWN),
    ("rocket.jpg", UNKNOWN),
    ("motorcycle_left.png", UNKNOWN),
    ("camera.png", UNKNOWN),  # grayscale
    ("coins.png", UNKNOWN),  # grayscale
    ("moon.png", UNKNOWN),  # grayscale
    ("clock_motion.png", UNKNOWN),
    ("hubble_deep_field.jpg", UNKNOWN),
    ("retina.jpg", UNKNOWN),
    ("brick.png", UNKNOWN),
    ("grass.png", UNKNOWN),
    ("gravel.png", UNKNOWN),
    ("ihc.png", UNKNOWN),
    ("motorcycle_right.png", UNKNOWN),
)


class Batch(NamedTuple):
    """A decoded batch (host arrays).

    Attributes:
      x: f32[b, res, res, 3] pixels in [0, 255]; zeros where ``mask`` is False.
      labels: i32[b], -1 where unknown or masked.
      mask: bool[b], True for a decoded image (False: padding or a skipped file).
      reasons: i32[b], 0 for an image or padding, ``k`` for a file skipped for
        ``SKIP_REASONS[k - 1]`` (so counts can be summed on device, across hosts).
      start: index of the batch's first row in the item list.
    """

    x: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    reasons: np.ndarray
    start: int


DecodeFailure = images.ImageRefused  # an image file that cannot be used; ``reason`` is one of SKIP_REASONS


def bundled_items(n: int, key: jax.Array, photos: Sequence[tuple[str, int]] = BUNDLED_PHOTOS) -> list[Item]:
    """``n`` items from scikit-image's bundled photos: the photos, then augmented copies.

    The first ``len(photos)`` items are the photos themselves; item ``i`` beyond
    them is photo ``i % len(photos)`` under a random crop (60-100 % of each side)
    and a coin-flip mirror, drawn from ``key``.

    Args:
      n: number of items.
      key: jax.random key for the augmentations.
      photos: (file name in skimage.data, label) pairs.

    Returns:
      list of n Items.
    """
    import skimage.data

    base = [Item(os.path.join(skimage.data.data_dir, name), label) for name, label in photos]
    k_scale, k_pos, k_flip = jax.random.split(key, 3)
    scale = np.asarray(jax.random.uniform(k_scale, (n,), minval=0.6, maxval=1.0))
    pos = np.asarray(jax.random.uniform(k_pos, (n, 2)))
    flip = np.asarray(jax.random.bernoulli(k_flip, 0.5, (n,)))
    items = []
    for i in range(n):
        photo = base[i % len(base)]
        if i < len(base):
            items.append(photo)
        else:
            items.append(photo._replace(crop=(float(scale[i]), float(pos[i, 0]), float(pos[i, 1]), bool(flip[i]))))
    return items


def split_items(items: Sequence[Item], n_train: int, n_val: int, key: jax.Array) -> tuple[list[Item], list[Item]]:
    """Shuffle ``items`` with ``key`` and cut two disjoint splits: train first, held-out last.

    When there are fewer than ``n_train + n_val`` items the held-out split keeps
    its size and the training split gets the rest.

    Returns:
      (train items, held-out items), ``len(train) == min(n_train, len(items) - n_val)``.

    Raises:
      DataError: fewer than ``n_val + 1`` items.
    """
    if n_train < 1 or n_val < 0:
        raise DataError(f"need --images >= 1 and --val >= 0, got {n_train} and {n_val}")
    if len(items) < n_val + 1:
        _refuse_unreadable(items)
        raise DataError(f"only {len(items)} image files, need more than --val {n_val}; lower --val")
    order = np.asarray(jax.random.permutation(key, len(items)))
    shuffled = [items[i] for i in order]
    n_train = min(n_train, len(items) - n_val)
    return shuffled[:n_train], shuffled[len(items) - n_val :]


def _refuse_unreadable(items: Sequence[Item]) -> None:
    """Raise DataError naming the first file's problem if none of (a few) ``items`` is a usable image.

    Called when there are too few files for the split, so that a folder of text files
    named ``.jpg`` is told it holds no image, not that it holds too few.
    """
    refusals = []
    for item in items:
        try:
            decode(item.path)
            return
        except DecodeFailure as failure:
            refusals.append(str(failure))
    if refusals:
        more = f" (and {len(refusals) - 1} more file(s) refused)" if len(refusals) > 1 else ""
        raise DataError(f"no usable image among the {len(refusals)} file(s) found: {refusals[0]}{more}")


def bundled_splits(n_train: int, n_val: int, key: jax.Array) -> tuple[list[Item], list[Item]]:
    """Train / held-out items from the bundled photos with no photo in both splits.

    The photos are shuffled with ``key`` and divided in proportion to the split
    sizes (at least one photo each); each split is then filled to its size with
    augmented crops of its own photos (:func:`bundled_items`).
    """
    if n_train < 1 or n_val < 0:
        raise DataError(f"need --images >= 1 and --val >= 0, got {n_train} and {n_val}")
    k_order, k_train, k_val = jax.random.split(key, 3)
    photos = [BUNDLED_PHOTOS[i] for i in np.asarray(jax.random.permutation(k_order, len(BUNDLED_PHOTOS)))]
    n_val_photos = 0 if n_val == 0 else min(max(1, round(len(photos) * n_val / (n_train + n_val))), len(photos) - 1)
    train = bundled_items(n_train, k_train, photos[: len(photos) - n_val_photos])
    val = bundled_items(n_val, k_val, photos[len(photos) - n_val_photos :]) if n_val else []
    return train, val


def decode(path: str, *, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read an image file as uint8 RGB [h, w, 3] (:func:`imagenet.images.read_image`).

    Raises:
      DecodeFailure: with the reason (one of SKIP_REASONS).
    """
    return images.read_image(path, min_side=min_side)


def apply_crop(image: np.ndarray, crop: tuple[float, float, float, bool] | None) -> np.ndarray:
    """The augmentation window of an Item applied to uint8 [h, w, 3]."""
    if crop is None:
        return image
    scale, top, left, flip = crop
    h, w = image.shape[:2]
    ch, cw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    y, x = int(round(top * (h - ch))), int(round(left * (w - cw)))
    out = image[y : y + ch, x : x + cw]
    return out[:, ::-1] if flip else out


def load_item(item: Item, resolution: int, preprocess: Callable[[np.ndarray, int], np.ndarray], *,
              min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode, augment and preprocess one item to f32[res, res, 3] (raises DecodeFailure)."""
    return preprocess(apply_crop(decode(item.path, min_side=min_side), item.crop), resolution)


def _load_or_reason(item, resolution, preprocess, min_side):
    try:
        return load_item(item, resolution, preprocess, min_side=min_side), None
    except DecodeFailure as failure:
        return None, failure.reason


def default_preprocess(image: np.ndarray, resolution: int) -> np.ndarray:
    """The EfficientNet eval transform (:func:`imagenet.transform.preprocess`)."""
    from imagenet.transform import preprocess

    return preprocess(image, resolution)


def iter_batches(
    items: Sequence[Item],
    batch: int,
    resolution: int,
    *,
    preprocess: Callable[[np.ndarray, int], np.ndarray] = default_preprocess,
    order: Sequence[int] | None = None,
    start_batch: int = 0,
    padded: int | None = None,
    rows: slice = slice(None),
    workers: int | None = None,
    prefetch: int = 2,
    min_side: int = MIN_SIDE,
) -> Iterator[Batch]:
    """Decode ``items`` batch by batch, ``prefetch`` batches ahead, in a thread pool.

    Batch ``k`` holds items ``order[k*batch : (k+1)*batch]`` followed by masked
    rows up to ``padded`` rows (the last batch is padded too, so every batch has
    the same shape); only the rows ``rows`` of each batch are decoded and
    returned (one host's share of a global batch).

    Args:
      items: the item list.
      batch: global batch size.
      resolution: output image side.
      preprocess: (uint8 [h, w, 3], resolution) -> f32[res, res, 3].
      order: a permutation of item indices (default: 0..n-1).
      start_batch: first batch to produce (resume).
      padded: rows per batch, at least ``batch`` (default ``batch``), e.g. rounded
        up to a multiple of the device count.
      rows: the rows of each global batch to decode (of the ``padded`` rows).
      workers: decoding threads (default: the CPU count, at most 16).
      prefetch: batches decoded ahead of the consumer.
      min_side: shorter sides below this are skipped as "too_small".

    Yields:
      Batch per global batch, from ``start_batch`` to the end.
    """
    order = np.arange(len(items)) if order is None else np.asarray(order)
    n_batches, local = -(-len(order) // batch), _local_rows(batch, padded, rows)
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=workers or min(16, os.cpu_count() or 1), thread_name_prefix="decode")
    load = functools.partial(_load_or_reason, resolution=resolution, preprocess=preprocess,
                             min_side=min_side)

    def submit(k: int) -> tuple[int, list, list]:
        picked = [None if pos is None else items[order[pos]]
                  for pos in _positions(k, batch, local, len(order))]
        return (k, [None if item is None else pool.submit(load, item) for item in picked],
                [UNKNOWN if item is None else item.label for item in picked])

    try:
        pending = collections.deque(map(submit, range(start_batch, min(start_batch + prefetch + 1, n_batches))))
        while pending:
            k, futures, labels = pending.popleft()
            if k + len(pending) + 1 < n_batches:
                pending.append(submit(k + len(pending) + 1))
            yield _assemble(futures, labels, resolution, k * batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _local_rows(batch: int, padded: int | None, rows: slice) -> range:
    """The rows of each padded batch this host decodes."""
    padded = batch if padded is None else padded
    if padded < batch:
        raise ValueError(f"padded ({padded}) must be at least batch ({batch})")
    return range(padded)[rows]


def _positions(k: int, batch: int, local: range, n: int) -> list[int | None]:
    """Batch k's rows `local` as positions in the order; None for a masked row (padding
    past `batch` rows, or past the last of the n items)."""
    return [k * batch + r if r < batch and k * batch + r < n else None for r in local]


def _assemble(futures: list, labels: list[int], resolution: int, first: int) -> Batch:
    """One batch from its rows' decoding futures (None: a masked row) and their labels."""
    x = np.zeros((len(futures), resolution, resolution, 3), np.float32)
    out_labels = np.full(len(futures), UNKNOWN, np.int32)
    mask = np.zeros(len(futures), bool)
    reasons = np.zeros(len(futures), np.int32)
    for j, future in enumerate(futures):
        if future is None:
            continue
        image, reason = future.result()
        if reason is not None:
            reasons[j] = SKIP_REASONS.index(reason) + 1
            continue
        x[j], mask[j], out_labels[j] = image, True, labels[j]
    return Batch(x, out_labels, mask, reasons, first)


def skipped_counts(counts: Sequence[int]) -> dict[str, int]:
    """``{reason: count}`` (non-zero only) from counts indexed like the reason codes (0 unused)."""
    return {reason: int(counts[k + 1]) for k, reason in enumerate(SKIP_REASONS) if counts[k + 1]}


def count_batches(n_items: int, batch: int) -> int:
    """Number of batches of size ``batch`` covering ``n_items``."""
    return -(-n_items // batch)
