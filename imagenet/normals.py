"""``python -m imagenet normals``: the paper's spectrum of boundary normals at full scale.

For each image, DeepFool's minimal l2 perturbation ``r(I)`` gives the normal
``n(I) = r(I) / |r(I)|`` of the nearest decision boundary. The singular values of the
matrix of normals (d x m, d = res x res x 3), normalised by the largest, fall much
faster than those of as many random unit vectors when the boundaries near the data
share a few orientations: the explanation of universal perturbations in
Moosavi-Dezfooli et al. (CVPR 2017, Figure 9). The same statistics as
``python -m categories normals`` in 2D (categories.normals), on a pretrained model.

Outputs in ``--out``: ``normals.json`` (``sigma_ratio``, ``random_sigma_ratio``,
``alignment``, ``count``, the ``curve`` of normalised singular values, the median
``|r|_2``) and ``spectrum.png``. Runs in one process, on every device it sees.
``--out`` is created and tested for writing before any work; a progress bar (one
step per DeepFool batch) runs on stderr unless ``--quiet`` (or ``--json`` with
stderr not a terminal).

Example:
    python -m imagenet normals --model lite0 --images 32     # bundled photos
"""

from __future__ import annotations

import argparse
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from categories import deepfool_flips, normal_spectrum, spectrum_curve
from imagenet import data, sharding, steps
from imagenet.outputs import output_folder
from imagenet.progress import bar, wanted
from imagenet.registry import MODEL_HELP, choose_model
from imagenet.runconfig import ArgumentError, check_seed
from imagenet.splits import build_splits
from store import OneLineParser, run_main, write_bytes, write_json


def minimal_perturbations(classifier, items: Sequence[data.Item], *, batch: int = 8, top_k: int = 10,
                          max_iter: int = 50, dp: sharding.DataParallel | None = None,
                          preprocess=data.default_preprocess, workers: int | None = None, bar=None):
    """DeepFool's minimal l2 perturbations of the readable images.

    Args:
      classifier: has ``resolution`` and ``logits_fn`` (f32[n, res, res, 3] in [0, 255]).
      items: the images; unreadable ones are skipped and counted.
      bar: a tqdm bar advanced once per batch, or None.

    Returns:
      ``(r f32[m, res, res, 3], skipped)``: ``r`` for the ``m`` images whose label DeepFool
      changed (in pixel units), and the skip counts by reason.
    """
    if jax.process_count() > 1:
        raise ArgumentError("normals runs in one process (it gathers every normal on the host)")
    dp = dp or sharding.make_data_parallel()
    logits_fn = sharding.put_replicated(dp, classifier.logits_fn)
    rs, skipped = [], np.zeros(len(data.SKIP_REASONS) + 1, np.int64)
    for x, mask, _, codes in steps.device_batches(items, batch, classifier.resolution, dp, preprocess, workers):
        r, flipped, _ = deepfool_flips(logits_fn, x, norm="2", top_k=top_k, max_iter=max_iter)
        ok = np.asarray(mask & flipped)
        rs.append(np.asarray(r)[ok])
        skipped += np.asarray(steps.reason_counts(codes))
        if bar is not None:
            bar.update(1)
    shape = (0, classifier.resolution, classifier.resolution, 3)
    return (np.concatenate(rs) if rs else np.zeros(shape, np.float32)), skipped


def measure(classifier, items, *, key: jax.Array, batch: int = 8, top_k: int = 10, max_iter: int = 50,
            workers: int | None = None, progress: bool = False) -> dict:
    """The spectrum of the normals of ``classifier`` on ``items``, JSON-ready.

    Raises:
      data.DataError: fewer than two images whose label DeepFool changed.
    """
    with bar(data.count_batches(len(items), batch), f"normals {classifier.name}: DeepFool", unit="batch",
             show=progress) as shown:
        r, skipped = minimal_perturbations(classifier, items, batch=batch, top_k=top_k, max_iter=max_iter,
                                           workers=workers, bar=shown)
    if r.shape[0] < 2:
        raise data.DataError(f"only {r.shape[0]} of {len(items)} images gave a normal (skipped: "
                             f"{data.skipped_counts(skipped)}); a spectrum needs at least two")
    spec = normal_spectrum(jnp.asarray(r), key)
    sizes = np.sqrt(np.sum(r.astype(np.float64).reshape(r.shape[0], -1) ** 2, axis=1))
    return {"model": classifier.name, "resolution": classifier.resolution, "images": len(items),
            "count": spec.count, "sigma_ratio": spec.sigma_ratio,
            "random_sigma_ratio": spec.random_sigma_ratio, "alignment": spec.alignment,
            "median_l2": float(np.median(sizes)), "curve": spectrum_curve(spec),
            "singular": np.asarray(spec.singular).tolist(),
            "random_singular": np.asarray(spec.random_singular).tolist(),
            "skipped": data.skipped_counts(skipped)}


def summary(result: dict) -> str:
    """Two lines of text: the ratios and where the curves part."""
    curve = result["curve"]
    half = len(curve["normals"]) // 2
    return (f"{result['model']}: {result['count']} normals of {result['images']} images (median |r|_2 "
            f"{result['median_l2']:.1f} pixel units); sigma_2/sigma_1 {result['sigma_ratio']:.3f} "
            f"(random unit vectors {result['random_sigma_ratio']:.3f}), alignment {result['alignment']:.3f}\n"
            f"normalised singular value {half + 1} of {len(curve['normals'])}: normals "
            f"{curve['normals'][half]:.3f}, random {curve['random'][half]:.3f}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The ``normals`` options; a bad one raises store.UsageError (one line)."""
    p = OneLineParser(prog="python -m imagenet normals", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnet-lite0", help=MODEL_HELP)
    p.add_argument("--data", default=None, help="image folder (default: scikit-image's bundled photos)")
    p.add_argument("--images", type=int, default=32, help="images to take the normals of")
    p.add_argument("--batch", type=int, default=8, help="images per DeepFool batch")
    p.add_argument("--top-k", type=int, default=10, help="DeepFool's candidate classes (at most the model's)")
    p.add_argument("--max-iter", type=int, default=50, help="DeepFool's most linearisations")
    p.add_argument("--seed", type=int, default=0,
                   help="the one seed: which images are drawn and the random unit vectors")
    p.add_argument("--out", default="runs/normals", help="folder for normals.json and spectrum.png")
    p.add_argument("--json", action="store_true", help="print the JSON object instead of the summary")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar on stderr (it is off anyway with --json when stderr is not a terminal)")
    p.add_argument("--cache-dir", default=None,
                   help="converted-weights cache (default: $ROBUSTNESS_CACHE or ~/.cache/robustness-geometry)")
    p.add_argument("--workers", type=int, default=None, help="image decoding threads (default: CPU count)")
    return p.parse_args(list(argv))


def normals_command(args: argparse.Namespace) -> dict:
    """The ``normals`` subcommand: check the arguments, measure, write normals.json and spectrum.png."""
    from drawing import figure_png, normals_figure
    from imagenet.models import load_chosen

    for flag, value, least in (("--images", args.images, 2), ("--batch", args.batch, 1),
                               ("--top-k", args.top_k, 2), ("--max-iter", args.max_iter, 1)):
        if value < least:
            raise ArgumentError(f"{flag} must be at least {least}, got {value}")
    check_seed(args.seed)
    choice = choose_model(args.model)
    with output_folder(args.out) as out:  # created and tested before any work
        splits = build_splits(args.data, args.images, 0, args.seed)
        key = jax.random.split(jax.random.key(args.seed), 3)[2]
        classifier, _ = load_chosen(choice, cache_dir=args.cache_dir)
        result = measure(classifier, splits.train, key=key, batch=args.batch, top_k=args.top_k,
                         max_iter=args.max_iter, workers=args.workers, progress=wanted(args.quiet, args.json))
        result = {**result, "data": splits.source, "seed": args.seed}
        write_json(out / "normals.json", result)
        fig = normals_figure(None, result["singular"], result["random_singular"],
                             title=f"{classifier.name}: normals of {result['count']} images vs random unit vectors")
        write_bytes(out / "spectrum.png", figure_png(fig, dpi=120))
    return result | {"out": str(out)}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, measure, print; bad input -> one line on stderr, exit code 2."""
    import json

    def show(args, result):
        if args.json:
            return json.dumps(result)
        return f"{summary(result)}\nwrote {result['out']}/normals.json and spectrum.png"
    return run_main(argv, parse_args, normals_command, show)
