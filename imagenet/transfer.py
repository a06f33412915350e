"""``python -m imagenet transfer``: a saved universal perturbation measured on other models.

One row of the paper's cross-model table (Moosavi-Dezfooli et al. 2017, Table 2):
the fooling rate of a perturbation computed on one model, on each model listed,
next to the fooling rate of a random perturbation of the same norm (uniform on
the sphere of radius ``|v|_p``) as the baseline a universal direction must beat.

Images: by default the held-out images of the run that made the perturbation
(rebuilt from its metrics.json: same data, seed and split), so no model is
measured on the images ``v`` was computed on; ``--data``/``--images`` choose
other images instead. ``--models`` takes registered names and the user's models
(``MODULE:FUNCTION``). Models of another input resolution (lite1 240, lite2 260, or
any side of the user's) see ``v`` resized bilinearly (the same picture at their scale: bilinear
interpolation keeps ``|v|_inf``; ``|v|_2`` grows with the pixel count and is
reported per model).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

import attacks
from imagenet import artifacts, data, progress, sharding, steps
from imagenet.classifier import num_classes
from imagenet.outputs import output_file
from imagenet.registry import choose_model
from imagenet.runconfig import ArgumentError, check_seed
from imagenet.splits import build_splits, without_labels
from store import OneLineParser, run_main, import_spec, write_json


def resize_perturbation(v: np.ndarray, resolution: int) -> np.ndarray:
    """f32[h, w, 3] -> f32[resolution, resolution, 3] by bilinear interpolation (identity if equal)."""
    if v.shape[:2] == (resolution, resolution):
        return np.asarray(v, np.float32)
    return np.asarray(jax.image.resize(jnp.asarray(v), (resolution, resolution, 3), "linear"), np.float32)


def read_source(path: str | os.PathLike) -> tuple[np.ndarray, dict | None, Path]:
    """(perturbation, metrics of its run or None, output folder) for a run folder or a .npy/.npz file.

    Raises:
      ArgumentError: nothing usable at ``path``.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    file = path / "perturbation.npy" if path.is_dir() else path
    try:
        v = artifacts.load_perturbation(file)
    except ValueError as err:
        raise ArgumentError(f"--perturbation: {err}") from None
    metrics_file = folder / "metrics.json"
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else None
    except (OSError, ValueError) as err:
        raise ArgumentError(f"--perturbation: {metrics_file} is not a readable metrics.json ({err}); "
                            "restore it or pass the perturbation.npy file alone") from None
    if metrics is not None and not isinstance(metrics, dict):
        raise ArgumentError(f"--perturbation: {metrics_file} does not hold a run's metrics")
    return v, metrics, folder


def measure_transfer(v: np.ndarray, classifiers, items: Sequence[data.Item], *, norm: str, key: jax.Array,
                     batch: int = 8, dp: sharding.DataParallel | None = None, class_names=None,
                     preprocess=data.default_preprocess, workers: int | None = None, bar=None,
                     label_classes: int | None = None) -> list[dict]:
    """Fooling rate of ``v`` (and of a random perturbation of its norm) on each classifier.

    Args:
      v: f32[h, w, 3], the universal perturbation (pixel units).
      classifiers: iterable of objects with ``name``, ``resolution``, ``logits_fn``.
      items: the images.
      norm: the norm the random baseline is drawn in ("2" or "inf").
      key: jax.random key of the random baseline (one draw per model).
      class_names: names for dominant_labels, used for the classifiers with as many classes
        (a classifier's own ``class_names`` first); otherwise the class index as text.
      bar: a tqdm bar advanced once per model (its description names the model), or None.
      label_classes: the class count the items' labels are ids of (1000 for ImageNet folders):
        a classifier of another count is measured without them; None: labels as given.

    Returns:
      one dict per classifier: model, resolution, images_used, fooling_rate,
      fooling_rate_random, clean_accuracy (None without labels), perturbation_norm,
      dominant_labels.
    """
    norm = attacks.parse_norm(norm)
    dp = dp or sharding.make_data_parallel()
    rows = []
    for i, clf in enumerate(classifiers):
        if bar is not None:
            bar.set_description_str(f"transfer: {clf.name}")
        u = resize_perturbation(v, clf.resolution)
        radius = float(attacks.lp_norm(jnp.asarray(u)[None], norm)[0])
        noise = np.asarray(attacks.sample_sphere(jax.random.fold_in(key, i), (1, *u.shape), norm, radius)[0])
        logits_fn = sharding.put_replicated(dp, clf.logits_fn)
        classes = num_classes(clf)
        seen = items if label_classes in (None, classes) else without_labels(items)
        counts = steps.evaluate_items(logits_fn, u, seen, batch, clf.resolution, dp, preprocess, workers)
        baseline = steps.evaluate_items(logits_fn, noise, seen, batch, clf.resolution, dp, preprocess, workers)
        names = getattr(clf, "class_names", None) or (class_names if class_names is not None
                                                      and len(class_names) == classes else None)
        valid = max(int(counts["valid"]), 1)
        rows.append({
            "model": clf.name, "resolution": clf.resolution, "images_used": int(counts["valid"]),
            "fooling_rate": float(counts["fooled"]) / valid,
            "fooling_rate_random": float(baseline["fooled"]) / valid,
            "clean_accuracy": float(counts["correct"]) / int(counts["labelled"]) if counts["labelled"] else None,
            "perturbation_norm": {"l2": float(np.sqrt(np.sum(u.astype(np.float64) ** 2))),
                                  "linf": float(np.max(np.abs(u)))},
            "dominant_labels": steps.dominant_labels(counts["hist"], names),
            "skipped": data.skipped_counts(counts["skipped"]),
        })
        if bar is not None:
            bar.update(1)
    return rows


def evaluation_items(metrics: dict | None, data_dir: str | None, images: int | None, seed: int):
    """The images to measure on and a description of them (see the module docstring)."""
    if data_dir is None and images is None and metrics is not None and metrics.get("val"):
        try:
            splits = build_splits(metrics.get("data_dir"), int(metrics["images"]), int(metrics["val"]),
                                  int(metrics["seed"]))
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            if isinstance(err, data.DataError):
                raise
            raise ArgumentError(f"--perturbation: the run's metrics.json lacks a valid {err}; "
                                "pass --data and --images instead") from None
        return splits.val, f"the {len(splits.val)} held-out images of the source run ({splits.source})"
    n = 16 if images is None else images
    splits = build_splits(data_dir, n, 0, seed)
    return splits.train, f"{len(splits.train)} images of {splits.source} (seed {seed})"


def format_table(result: dict) -> str:
    """The cross-model row as text."""
    lines = [f"{result['perturbation']} (from {result['source_model'] or '?'}, {result['norm_name']} "
             f"eps {result['eps']}) on {result['images']}",
             f"{'model':<22} {'fooling rate':>12} {'random':>8} {'clean acc':>9}"]
    for r in result["results"]:
        acc = "-" if r["clean_accuracy"] is None else f"{r['clean_accuracy']:.1%}"
        lines.append(f"{r['model']:<22} {r['fooling_rate']:>12.1%} {r['fooling_rate_random']:>8.1%} {acc:>9}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The ``transfer`` options; a bad one raises store.UsageError (one line)."""
    p = OneLineParser(prog="python -m imagenet transfer", description=__doc__.splitlines()[0])
    p.add_argument("--perturbation", required=True,
                   help="a run folder (perturbation.npy + metrics.json) or a perturbation .npy file")
    p.add_argument("--models", "--model", default="lite0,lite1,lite2",
                   help="comma-separated models to measure on: registered names, or your models as MODULE:FUNCTION "
                        "(FUNCTION() returns an imagenet.Classifier)")
    p.add_argument("--data", default=None, help="image folder (default: the source run's held-out images, "
                   "or the bundled photos)")
    p.add_argument("--images", type=int, default=None, help="images drawn from --data (default: 16)")
    p.add_argument("--norm", default=None, help="norm of the random baseline (default: the source run's, else linf)")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass")
    p.add_argument("--seed", type=int, default=0,
                   help="the one seed: which images are drawn and the random baseline")
    p.add_argument("--out", default=None, help="output JSON (default: transfer.json beside the perturbation)")
    p.add_argument("--cache-dir", default=None,
                   help="converted-weights cache (default: $ROBUSTNESS_CACHE or ~/.cache/robustness-geometry)")
    p.add_argument("--workers", type=int, default=None, help="image decoding threads (default: CPU count)")
    p.add_argument("--distributed", action="store_true", help="join a multi-host run (jax.distributed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (one step per model) on stderr")
    return p.parse_args(list(argv))


def transfer_command(args: argparse.Namespace) -> dict:
    """The ``transfer`` subcommand: check the arguments, measure, write the JSON."""
    sharding.initialize_distributed(True if args.distributed else None)
    from imagenet.classes import NUM_CLASSES, class_names
    from imagenet.models import load_chosen

    if args.batch < 1 or (args.images is not None and args.images < 1):
        raise ArgumentError("--batch and --images must be at least 1")
    check_seed(args.seed)
    choices = [choose_model(m.strip(), "--models") for m in args.models.split(",") if m.strip()]
    if not choices:
        raise ArgumentError("--models is empty")
    for choice in choices:  # a user's module that is not there fails now, not after the models before it
        if choice.family is None:
            import_spec(choice.spec, flag="--models")
    v, metrics, folder = read_source(args.perturbation)
    norm_arg = args.norm or (metrics or {}).get("norm") or "inf"
    try:
        norm = attacks.parse_norm(norm_arg)
    except ValueError as err:
        raise ArgumentError(f"--norm: {err}") from None
    out = Path(args.out) if args.out else folder / "transfer.json"
    with output_file(out):  # its folder created and tested before any work
        items, described = evaluation_items(metrics, args.data, args.images, args.seed)
        key = jax.random.split(jax.random.key(args.seed), 3)[2]
        show = not args.quiet and jax.process_index() == 0
        with progress.bar(len(choices), "transfer", unit="model", show=show) as bar:
            loaded = (load_chosen(c, cache_dir=args.cache_dir, flag="--models")[0] for c in choices)
            rows = measure_transfer(v, loaded, items, norm=norm, key=key, batch=args.batch,
                                    class_names=class_names(), workers=args.workers, bar=bar,
                                    label_classes=NUM_CLASSES)
        result = {
            "perturbation": str(Path(args.perturbation)), "source_model": (metrics or {}).get("model"),
            "norm": norm, "norm_name": "l2" if norm == "2" else "linf", "eps": (metrics or {}).get("eps"),
            "images": described, "seed": args.seed, "results": rows,
        }
        if jax.process_index() == 0:
            write_json(out, result)
    return result | {"out": str(out)}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, measure, print the table; bad input -> one line on stderr, exit code 2."""
    def show(args, result):
        return (f"{format_table(result)}\nwrote {result['out']}"
                if jax.process_index() == 0 else None)
    return run_main(argv, parse_args, transfer_command, show)
