"""What a checkpoint's meta must hold: types, ranges, counters that agree, bounds, digest.

:mod:`imagenet.checkpoint` reads a checkpoint through these checks, each of which
returns the reason, in words, for its "checkpoint ... is damaged" line, or None:

- :func:`check_types`: every counter present, of its type (whole numbers are not
  booleans, lists have their lengths);
- :func:`check_ranges`: rates in [0, 1], one rate per finished pass and the best of
  them the best rate, nothing negative, the phase and the position agree;
- :func:`check_bounds`: the position within the pass, the counts within the data,
  the pending images within the data and a batch (needs the run: :class:`Bounds`);
- :func:`meta_digest`: what the meta and the arrays hashed to when they were written.
"""

from __future__ import annotations

import json
import math
from typing import NamedTuple

import numpy as np

from store import content_digest

PHASES = ("train", "evaluate", "done")
# the RunState fields kept in the checkpoint's JSON meta (the arrays are v and best_v)
META_FIELDS = ("best_rate", "best_hist", "history", "pass_index", "batch_index", "phase", "skipped",
               "images_used", "correct", "labelled", "attack_images", "attack_seconds")
# kept too, but optional (a checkpoint written before Algorithm 1 compacted its batches has none)
PENDING_FIELDS = ("pending_items", "pending_labels")


def check_types(meta, n_reasons: int) -> str | None:
    """What is wrong with the types of a checkpoint's meta, or None."""
    if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str):
        return "no settings fingerprint"
    missing = [k for k in META_FIELDS if k not in meta]
    if missing:
        return f"the counters {', '.join(missing)} are missing"
    ints = ("pass_index", "batch_index", "images_used", "correct", "labelled", "attack_images")
    if not all(_whole(meta[k]) and meta[k] >= 0 for k in ints):
        return "a counter is not a whole number"
    if not all(isinstance(meta[k], float) or _whole(meta[k]) for k in ("best_rate", "attack_seconds")) \
            or meta["phase"] not in PHASES:
        return "the best rate, the timing or the phase is not valid"
    if not isinstance(meta.get("model_spec", ""), str):
        return "the model it was computed with is not a name"
    pending = meta.get("pending_items", [])
    lists = (("history", _number, None), ("best_hist", _whole, None), ("skipped", _whole, n_reasons),
             ("pending_items", _whole, None),
             ("pending_labels", _whole, len(pending) if isinstance(pending, list) else None))
    for k, kind, size in lists:
        value = meta.get(k, [])
        if not isinstance(value, list) or not all(kind(x) for x in value) or \
                (size is not None and len(value) != size):
            return f"{k} is not a list of numbers" + ("" if size is None else f" of length {size}")
    return None


def _whole(x) -> bool:
    """A whole number a float holds exactly (a larger count overflows the throughput's division)."""
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) < 2**53


def _number(x) -> bool:
    return isinstance(x, float) or _whole(x)


def _rate(x) -> bool:
    return 0 <= x <= 1  # False for NaN and the infinities; exact for any int


def check_ranges(meta) -> str | None:
    """What is wrong with the values of a checkpoint's meta (types already checked), or None:
    rates in [0, 1], one rate per finished pass, the best of them the best rate, counts
    that cannot be negative and agree with each other."""
    history, phase = meta["history"], meta["phase"]
    if not _rate(meta["best_rate"]) or not all(_rate(r) for r in history):
        return f"the fooling rates ({meta['best_rate']!r}, history {history[:4]!r}) are not all in [0, 1]"
    if len(history) != meta["pass_index"]:
        return f"pass_index {meta['pass_index']} does not match the {len(history)} rates of finished passes"
    if meta["best_rate"] != (max(history) if history else 0.0):
        return f"best_rate {meta['best_rate']!r} is not the best rate of the history {history[:4]!r}"
    if not 0 <= meta["attack_seconds"] < math.inf:
        return f"attack_seconds {meta['attack_seconds']!r} is not a time"
    if min(meta["skipped"] + meta["best_hist"] + meta.get("pending_labels", []) + meta.get("pending_items", []),
           default=0) < 0:
        return "a count, an image index or a label is negative"
    if bool(history) != bool(meta["best_hist"]):
        return "best_hist and the history disagree on whether a pass has finished"
    if phase != "train" and (meta["batch_index"] != 0 or not history and phase == "done"):
        return f"phase {phase!r} with batch_index {meta['batch_index']} and {len(history)} finished passes"
    if meta["correct"] > meta["labelled"]:
        return f"correct {meta['correct']} is more than labelled {meta['labelled']}"
    pending = meta.get("pending_items", [])
    if len(set(pending)) != len(pending) or (pending and phase != "train"):
        return "the pending images repeat, or wait outside a training pass"
    finished_first = bool(history) or phase != "train"
    if finished_first and meta["images_used"] < 1:
        return "a finished first pass used no image"
    return None


def meta_digest(meta: dict, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of a checkpoint's meta (its JSON, sorted, without the digest) and its arrays."""
    text = json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True)
    return content_digest(text, *(arrays[k] for k in ("v", "best_v", "key")))


class Bounds(NamedTuple):
    """What a checkpoint's positions and counts must fit: the run's data and batches.

    Attributes:
      n_train: training images; batch: images per update; classes: the model's;
      method: ``deepfool`` or ``sgd`` (only Algorithm 1 keeps images pending).
    """

    n_train: int
    batch: int
    classes: int
    method: str


def check_bounds(meta: dict, bounds: Bounds) -> str | None:
    """What in a (type- and range-checked) meta lies outside ``bounds``, or None.

    Args:
      meta: the checkpoint's meta, as :func:`read_checkpoint` returns it.
      bounds: the run's :class:`Bounds`.

    Returns:
      The reason, in words, or None.
    """
    n, batch = bounds.n_train, bounds.batch
    n_batches = -(-n // batch)
    if meta["phase"] == "train" and meta["batch_index"] >= n_batches:
        return f"batch_index {meta['batch_index']} is past the {n_batches} batches of a pass"
    first_pass = meta["pass_index"] == 0 and meta["phase"] == "train"
    covered = min(meta["batch_index"] * batch, n) if first_pass else n
    seen = meta["images_used"] + sum(meta["skipped"][1:])
    if seen != covered:
        return f"{meta['images_used']} images used and {sum(meta['skipped'][1:])} skipped, not the {covered} files read"
    if meta["labelled"] > n or sum(meta["best_hist"]) > n or len(meta["best_hist"]) not in (0, bounds.classes):
        return f"the counts of the last evaluation do not fit {n} images of {bounds.classes} classes"
    pending, labels = meta.get("pending_items", []), meta.get("pending_labels", [])
    if pending and (bounds.method != "deepfool" or len(pending) >= batch or max(pending) >= n
                    or max(labels) >= bounds.classes):
        return f"the pending images {pending[:4]!r} do not fit {n} images, batches of {batch} and {bounds.classes} classes"
    return None
