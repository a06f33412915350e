"""``python -m imagenet predict --model M IMAGE...``: top-5 classes of image files.

Prints, per image, the five most probable classes with their names (ImageNet's for a
model of 1000 classes, the model's own if it carries them, else just the index) and
softmax probabilities; ``--json`` prints one JSON object per image (one a line)
with ``top5`` as a list of ``[class_index, name, probability]``. Files are read
under the one image policy of :mod:`imagenet.images` (the same sizes and modes as
``run``); a refused file stops the command with one line before the model loads.
With more than one batch of images a progress bar runs on stderr (``--quiet``, or
``--json`` with stderr not a terminal, turns it off).
"""

from __future__ import annotations

import argparse
import functools
import json

import jax
import numpy as np

from imagenet.registry import MODEL_HELP, choose_model
from store import OneLineParser, run_main

BATCH = 16  # images per forward pass; the last batch is padded so one shape compiles


@functools.partial(jax.jit, static_argnames="k")
def top_classes(logits_fn, x: jax.Array, k: int = 5) -> tuple[jax.Array, jax.Array]:
    """The k most probable classes.

    Args:
      logits_fn: a classifier pytree (``Partial``), f32[n, ...] -> f32[n, classes].
      x: f32[n, res, res, 3] in [0, 255].
      k: number of classes (static).

    Returns:
      (indices i32[n, k], probabilities f32[n, k]), most probable first.
    """
    probs = jax.nn.softmax(logits_fn(x), axis=-1)
    top_p, top_i = jax.lax.top_k(probs, k)
    return top_i, top_p


def predict_images(classifier, images: np.ndarray, k: int = 5, *, bar=None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of preprocessed images, in batches of :data:`BATCH`.

    Args:
      classifier: an ``imagenet.Classifier``.
      images: f32[n, res, res, 3] in [0, 255].
      k: number of classes per image.
      bar: a tqdm bar advanced once per batch, or None.

    Returns:
      (indices int[n, k], probabilities float[n, k]) as numpy arrays.
    """
    n = images.shape[0]
    batch = min(BATCH, n)
    pad = (-n) % batch
    padded = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)]) if pad else images
    indices, probs = [], []
    for start in range(0, padded.shape[0], batch):
        i, p = top_classes(classifier.logits_fn, padded[start : start + batch], k)
        indices.append(np.asarray(i))
        probs.append(np.asarray(p))
        if bar is not None:
            bar.update(1)
    return np.concatenate(indices)[:n], np.concatenate(probs)[:n]


def predict_files(paths: list[str], model: str, *, cache_dir: str | None = None, k: int = 5,
                  progress: bool = False) -> list[dict]:
    """Classify image files.

    Args:
      paths: image file paths.
      model: a registered model name or alias, or ``MODULE:FUNCTION`` (the user's model).
      cache_dir: weight cache directory (default: the user cache).
      k: number of classes per image (at most the model's class count).
      progress: show a bar on stderr when there is more than one batch.

    Returns:
      One dict per image: ``{"image": path, "model": name, "top5": [[index, name, prob], ...]}``;
      ``name`` is the class's name where the model has names (ImageNet's for 1000 classes),
      else the index as text.

    Raises:
      ValueError: unknown model, or a user's model that cannot be loaded (one line); a
        missing, refused or unreadable image (:class:`imagenet.images.ImageRefused`).
    """
    from imagenet.classifier import label_names
    from imagenet.models import load_chosen
    from imagenet.progress import bar
    from imagenet.transform import load_image, preprocess

    choice = choose_model(model)
    # a registered model's input side is known before it loads, so a bad file fails the command first;
    # the user's model tells its side once built
    loaded = None if choice.resolution is not None else load_chosen(choice, cache_dir=cache_dir)
    resolution = choice.resolution or loaded[0].resolution
    # each file decoded and cut to the model's input at once (one full-size image in memory at a time)
    x = np.stack([preprocess(load_image(path), resolution) for path in paths])
    classifier, classes = loaded or load_chosen(choice, cache_dir=cache_dir)
    batches = -(-len(paths) // BATCH)
    with bar(batches, f"predict {classifier.name}", unit="batch", show=progress and batches > 1) as shown:
        indices, probs = predict_images(classifier, x, min(k, classes), bar=shown)
    names = label_names(classifier, classes) or [str(i) for i in range(classes)]
    return [
        {"image": str(path), "model": classifier.name,
         "top5": [[int(i), names[int(i)], float(p)] for i, p in zip(row_i, row_p)]}
        for path, row_i, row_p in zip(paths, indices, probs)
    ]


def format_text(results: list[dict]) -> str:
    """Human-readable table: the image path, then one line per class."""
    lines = []
    for result in results:
        lines.append(f"{result['image']} ({result['model']})")
        # a model without class names gives the index as its name: shown once
        lines += [f"  {index:4d}  {prob:7.2%}  {name if name != str(index) else ''}".rstrip()
                  for index, name, prob in result["top5"]]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The ``predict`` options; a bad one raises store.UsageError (one line)."""
    parser = OneLineParser(prog="python -m imagenet predict", description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format PIL reads)")
    parser.add_argument("--model", default="efficientnet-lite0", help=MODEL_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON object per image, one a line")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar on stderr (it is off anyway with --json when stderr is not a terminal)")
    parser.add_argument("--cache-dir", default=None, help="converted-weights cache (default: $ROBUSTNESS_CACHE "
                        "or ~/.cache/robustness-geometry)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, classify, print; exit code 2 with a one-line error on bad input."""
    from imagenet.progress import wanted

    def work(args):
        return predict_files(args.images, args.model, cache_dir=args.cache_dir,
                             progress=wanted(args.quiet, args.json))

    def show(args, results):
        if args.json:
            return "\n".join(json.dumps(result) for result in results)
        return format_text(results)
    return run_main(argv, parse_args, work, show)
