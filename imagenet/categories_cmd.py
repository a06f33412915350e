"""``python -m imagenet categories``: which category is a real ImageNet model in?

The four fractions of the held-out photos, estimated by the project's jitted attacks
at each eps of ``--eps`` (one value, or a comma-separated list for a curve), each with
the direction of its bound (:mod:`imagenet.fractions`), the verdict at ``--tau`` with
what keeps it from being proven, and the clean accuracy on the labelled photos.

Outputs in ``--out``: ``categories.json`` (every figure), ``curves.png`` (the fractions
over eps, dashed as every estimate is in the app, random's interval shaded),
``perturbation.npy`` and ``.png`` (the best universal perturbation at the largest eps,
in pixel units and scaled for viewing) and ``examples.npz`` (a few held-out photos
before and after it, with the model's labels). ``--out`` is created and tested before any work; bad input is one line on
stderr, exit code 2.

Example:
    python -m imagenet categories --model lite0 --norm linf --eps 10
    python -m imagenet categories --eps 1,2,4,8,10,16 --json
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import jax
import numpy as np

import attacks
from categories import NAMES
from imagenet import data
from imagenet.fractions import (FractionSettings, counted_photos, estimate, fractions_of,
                                minimal_deltas, predictions, verdict_with_caveats)
from imagenet.outputs import output_folder
from imagenet.progress import bar
from imagenet.registry import MODEL_HELP, choose_model
from imagenet.runconfig import PAPER_EPS, ArgumentError, check_seed
from imagenet.splits import build_splits
from store import OneLineParser, run_main, write_bytes, write_json

BOUNDS = {"robust": "upper bound", "pointwise": "lower bound", "universal": "lower bound",
          "random": "Monte Carlo, 95% interval"}
EXAMPLES = 4   # held-out photos shown before and after the universal perturbation
DEFAULT = FractionSettings()
PHOTO_BATCH = 64    # photos decoded together (the loader's threads share each batch)


class Measurement(NamedTuple):
    """What :func:`measure_categories` measured, and what :func:`write_categories` writes."""

    result: dict        # JSON-ready: every figure, one ``curve`` entry per eps
    found: list         # imagenet.fractions.Estimate per eps
    examples: dict      # :func:`examples` of the best universal perturbation at the last eps


def parse_eps(text: str | None, norm: str) -> list[float]:
    """``--eps``: one radius or a comma-separated list, in pixel units, increasing."""
    if text is None:
        return [PAPER_EPS[norm]]
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ArgumentError(f"--eps must be a number or a comma-separated list of numbers, got "
                            f"{text!r}") from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise ArgumentError(f"--eps must be positive numbers (pixel units, 0-255 scale), got {text!r}")
    return sorted(set(values))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The ``categories`` options; a bad one raises store.UsageError (one line)."""
    p = OneLineParser(prog="python -m imagenet categories", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnet-lite0", help=MODEL_HELP)
    p.add_argument("--data", default=None, help="image folder (default: scikit-image's bundled photos)")
    p.add_argument("--images", type=int, default=16, help="training photos the universal perturbations are computed on")
    p.add_argument("--val", type=int, default=8, help="held-out photos: the sample of D the fractions are shares of")
    p.add_argument("--norm", default="linf", help="linf or l2")
    p.add_argument("--eps", default=None, help="radius in pixel units (0-255 scale), or a comma-separated list "
                   "for a curve (default: the paper's, 10 for linf, 2000 for l2)")
    p.add_argument("--tau", type=float, default=0.8, help="the 'almost all' share of the verdict, in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="the one seed: the split of the photos and every attack")
    p.add_argument("--pgd-steps", type=int, default=DEFAULT.pgd_steps, help="PGD steps per restart")
    p.add_argument("--pgd-restarts", type=int, default=DEFAULT.pgd_restarts, help="PGD random starts")
    p.add_argument("--passes", type=int, default=DEFAULT.passes,
                   help="passes of the universal algorithms over the training photos")
    p.add_argument("--max-deltas", type=int, default=DEFAULT.max_deltas,
                   help="random deltas at most (they are drawn until random's 95%% interval is "
                        "at most 0.02 on each side)")
    p.add_argument("--out", default=None, help="output folder (default: runs/categories-<model>-<norm>)")
    p.add_argument("--json", action="store_true", help="print the JSON object instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.add_argument("--cache-dir", default=None,
                   help="converted-weights cache (default: $ROBUSTNESS_CACHE or ~/.cache/robustness-geometry)")
    return p.parse_args(list(argv))


def settings_of(args: argparse.Namespace) -> FractionSettings:
    for flag, value, least in (("--pgd-steps", args.pgd_steps, 1), ("--pgd-restarts", args.pgd_restarts, 1),
                               ("--passes", args.passes, 1), ("--max-deltas", args.max_deltas, 16),
                               ("--images", args.images, 1), ("--val", args.val, 1)):
        if value < least:
            raise ArgumentError(f"{flag} must be at least {least}, got {value}")
    if not 0 < args.tau <= 1:
        raise ArgumentError(f"--tau must be in (0, 1], got {args.tau}")
    check_seed(args.seed)
    return FractionSettings(pgd_steps=args.pgd_steps, pgd_restarts=args.pgd_restarts, passes=args.passes,
                    max_deltas=args.max_deltas)


def load_photos(items, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The readable photos of ``items`` as ``f32[n, res, res, 3]`` and their labels,
    decoded by the runner's loader (:func:`imagenet.data.iter_batches`, in threads)."""
    batches = list(data.iter_batches(items, PHOTO_BATCH, resolution)) if items else []
    if not any(b.mask.any() for b in batches):
        raise data.DataError("no readable photo among the held-out or training images")
    return (np.concatenate([b.x[b.mask] for b in batches]),
            np.concatenate([b.labels[b.mask] for b in batches]).astype(np.int64))


def row(e, tau: float, clean_accuracy) -> dict:
    """One eps of the curve, JSON-ready."""
    v, caveats = verdict_with_caveats(e, tau, clean_accuracy)
    return {"eps": e.eps, **fractions_of(e), "universal_train": e.universal_train,
            "random_interval": list(e.random_interval), "random_deltas": e.random_deltas,
            "by_attack": e.by_attack, "verdict": v, "verdict_name": NAMES[v], "caveats": caveats}


def measure_categories(classifier, splits, *, norm: str, eps_values: Sequence[float],
                       tau: float, seed: int, settings: FractionSettings = FractionSettings(),
                       progress: bool = False, on_eps=None) -> Measurement:
    """The four fractions of ``classifier`` at every eps, JSON-ready, and the estimates.

    Args:
      classifier: has ``name``, ``resolution``, ``logits_fn`` (pixels in [0, 255]).
      splits: :class:`imagenet.Splits` (training photos for the universal perturbations,
        held-out photos: the sample of D).
      norm, eps_values, tau: the balls (pixel units) and the verdict's share.
      seed: the attacks' key is ``jax.random.key(seed)``, split once per eps.
      on_eps: called with ``(index, count)`` after each eps (a progress bar's update).

    Returns:
      :class:`Measurement`.
    """
    from imagenet.classes import NUM_CLASSES
    from imagenet.classifier import num_classes

    started = time.perf_counter()
    norm = attacks.parse_norm(norm)
    train_x, _ = load_photos(splits.train, classifier.resolution)
    val_x, val_labels = load_photos(splits.val, classifier.resolution)
    if num_classes(classifier) != NUM_CLASSES:   # folder labels are ImageNet-1k ids
        val_labels = np.full_like(val_labels, data.UNKNOWN)
    logits_fn = classifier.logits_fn
    pred = predictions(logits_fn, val_x, settings.batch)
    counted, accuracy = counted_photos(pred, val_labels)
    deepfool = minimal_deltas(logits_fn, val_x, pred, norm=norm, top_k=settings.top_k,
                              batch=settings.batch)
    keys = jax.random.split(jax.random.key(seed), len(eps_values))
    found = []
    for i, (eps, key) in enumerate(zip(eps_values, keys)):
        found.append(estimate(logits_fn, train_x, val_x, val_labels, norm=norm, eps=eps, key=key,
                              settings=settings, pred=pred, deepfool=deepfool))
        if on_eps is not None:
            on_eps(i + 1, len(eps_values))
    result = {"model": classifier.name, "resolution": classifier.resolution, "norm": norm,
              "tau": tau, "seed": seed, "source": splits.source, "images": len(train_x),
              "val": len(val_x), "counted": int(counted.sum()),
              "labelled": int((val_labels >= 0).sum()), "clean_accuracy": accuracy,
              "bounds": BOUNDS, "settings": settings._asdict(),
              "curve": [row(e, tau, accuracy) for e in found],
              "seconds": time.perf_counter() - started}
    return Measurement(result, found, examples(classifier, val_x, found[-1].universal_delta))


def examples(classifier, val_x, v, k: int = EXAMPLES) -> dict:
    """A few held-out photos before and after ``v``, with the model's labels and their
    names (for the app; the pictures after are clipped to [0, 255] for viewing only)."""
    from imagenet.classifier import label_names

    x = val_x[:k]
    before = predictions(classifier.logits_fn, x)
    after = predictions(classifier.logits_fn, x + v[None])
    names = label_names(classifier)
    name = (lambda i: names[i]) if names is not None else str  # noqa: E731
    return {"before": np.round(x).astype(np.uint8),
            "after": np.round(np.clip(x + v[None], 0, 255)).astype(np.uint8),
            "label_before": before, "label_after": after,
            "name_before": np.array([name(int(i)) for i in before]),
            "name_after": np.array([name(int(i)) for i in after])}


def curve_arrays(result: dict) -> tuple[np.ndarray, dict, dict]:
    """``(eps, {fraction: values}, {"random": (lo, hi)})`` of ``result["curve"]`` for
    ``drawing.draw_curves``, anchored at eps 0, which is known exactly (nothing moves:
    robust 1, the others 0)."""
    curve = result["curve"]
    eps = np.array([0.0] + [r["eps"] for r in curve])
    estimates = {k: np.array([float(k == "robust")] + [r[k] for r in curve]) for k in BOUNDS}
    bands = {"random": tuple(np.array([0.0] + [r["random_interval"][i] for r in curve])
                             for i in (0, 1))}
    return eps, estimates, bands


def write_categories(out: Path, measured: Measurement) -> None:
    """categories.json, curves.png, perturbation.npy/.png and examples.npz in ``out``."""
    from drawing import draw_curves, figure_png
    from imagenet.artifacts import save_npy, save_png, visible

    result = measured.result
    eps, estimates, bands = curve_arrays(result)
    fig = draw_curves(eps, {}, tau=result["tau"], eps=float(eps[-1]), norm=result["norm"],
                      estimates=(eps, estimates), bands=bands)
    write_bytes(out / "curves.png", figure_png(fig))
    v = measured.found[-1].universal_delta
    save_npy(out / "perturbation.npy", v)
    save_png(out / "perturbation.png", visible(v))
    buffer = io.BytesIO()
    np.savez(buffer, **measured.examples)
    write_bytes(out / "examples.npz", buffer.getvalue())
    write_json(out / "categories.json", result)


def summary(result: dict) -> str:
    """A table: one line per eps, the verdict and its caveats at the largest."""
    acc = result["clean_accuracy"]
    head = (f"{result['model']}, l{'∞' if result['norm'] == 'inf' else '2'}, {result['val']} held-out "
            f"photos ({result['counted']} counted; clean accuracy "
            f"{'-' if acc is None else f'{acc:.0%}'} on {result['labelled']} labelled), tau {result['tau']:g}")
    lines = [head, f"{'eps':>7s} {'robust<=':>9s} {'pointwise>=':>12s} {'universal>=':>12s} "
                   f"{'random (95%)':>22s}  verdict"]
    for r in result["curve"]:
        lo, hi = r["random_interval"]
        lines.append(f"{r['eps']:7g} {r['robust']:9.3f} {r['pointwise']:12.3f} {r['universal']:12.3f} "
                     f"{r['random']:7.3f} [{lo:.3f}, {hi:.3f}]  {r['verdict']} ({r['verdict_name']})")
    lines += [f"  caveat: {c}" for c in result["curve"][-1]["caveats"]]
    lines.append(f"wrote {result['out']}/categories.json, curves.png, perturbation.npy/.png, examples.npz "
                 f"({result['seconds']:.0f} s)")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> dict:
    """Check every cheap argument, then load the model and the photos, measure, write."""
    from imagenet.models import load_chosen

    norm = attacks.parse_norm(args.norm)
    eps_values = parse_eps(args.eps, norm)
    settings = settings_of(args)
    choice = choose_model(args.model)
    out = args.out or str(Path("runs") / f"categories-{choice.folder}-{'l2' if norm == '2' else 'linf'}")
    with output_folder(out) as folder:
        splits = build_splits(args.data, args.images, args.val, args.seed)
        classifier, _ = load_chosen(choice, cache_dir=args.cache_dir)
        show = not args.quiet and (not args.json or sys.stderr.isatty())
        with bar(len(eps_values), f"categories {classifier.name}", unit="eps", show=show) as shown:
            measured = measure_categories(classifier, splits, norm=norm, eps_values=eps_values,
                                          tau=args.tau, seed=args.seed, settings=settings,
                                          on_eps=lambda i, n: shown.update(1))
        measured.result.update(model=choice.spec, name=classifier.name, out=str(out))
        write_categories(Path(folder), measured)
    return measured.result


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, measure, print; bad input -> one line on stderr, exit code 2."""
    import json

    return run_main(argv, parse_args, command,
                    lambda args, result: json.dumps(result, indent=1) if args.json
                    else summary(result))
