"""``python -m imagenet run``: a universal perturbation of an ImageNet model, streamed and resumable.

The command line of :func:`imagenet.loop.run_universal`: it checks every cheap
argument first (:mod:`imagenet.runconfig`, the model name, the images of
:mod:`imagenet.splits`), then loads the model and runs. ``--method deepfool`` is
Algorithm 1 of Moosavi-Dezfooli et al. 2017, ``--method sgd`` a masked stochastic
ascent (Shafahi et al. 2020); ``--resume`` continues the run checkpointed in
``--out`` (:mod:`imagenet.checkpoint`) and ends with the same perturbation, bit for
bit, as a run that was never interrupted.

Outputs in ``--out``: metrics.json, perturbation.npy (f32[res, res, 3], pixel
scale), perturbation.png (scaled for visibility), checkpoint.npz. ``--out`` is
created and tested for writing before any work, then locked for the whole run
(:mod:`imagenet.runlock`: a second run on it is refused at once, naming the pid of
the first); a run that fails leaves no empty folder it created; a damaged checkpoint
is reported and left as it is. Bad input is reported as one line on stderr, exit
code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Sequence

import jax

import attacks
from imagenet import sharding
from imagenet.checkpoint import check_out_folder
from imagenet.images import REASON_TEXT
from imagenet.loop import run_universal
from imagenet.outputs import output_folder
from imagenet.registry import MODEL_HELP, choose_model
from imagenet.runconfig import CHUNK, PAPER_EPS, PUSH, ArgumentError, RunConfig
from imagenet.runlock import run_lock
from imagenet.splits import build_splits
from store import OneLineParser, run_main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The ``run`` options; a bad one raises store.UsageError (one line)."""
    p = OneLineParser(prog="python -m imagenet run", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnet-lite0", help=MODEL_HELP)
    p.add_argument("--data", default=None, help="ImageNet-style folder (synset subfolders) or a flat folder "
                   "of images (default: the photos bundled with scikit-image)")
    p.add_argument("--images", type=int, default=16, help="training images the perturbation is computed on")
    p.add_argument("--val", type=int, default=8, help="held-out images, disjoint from the training ones")
    p.add_argument("--norm", default="linf", help="linf or l2")
    p.add_argument("--eps", type=float, default=None,
                   help="radius in pixel units (0-255 scale) (default: the paper's, 10 for linf, 2000 for l2)")
    p.add_argument("--method", default="deepfool", help="deepfool (Algorithm 1) or sgd (stochastic ascent)")
    p.add_argument("--batch", type=int, default=8, help="images per update")
    p.add_argument("--seed", type=int, default=0,
                   help="the one seed: the split into training and held-out images and their order in each pass")
    p.add_argument("--passes", type=int, default=2, help="most passes over the training images")
    p.add_argument("--target", type=float, default=0.8, help="stop once the training fooling rate reaches it")
    p.add_argument("--top-k", type=int, default=5,
                   help="DeepFool candidate classes (the label and the others of highest logit)")
    p.add_argument("--overshoot", type=float, default=0.02, help="DeepFool overshoot")
    p.add_argument("--max-iter", type=int, default=10, help="DeepFool iterations per update")
    p.add_argument("--push", type=float, default=PUSH,
                   help=f"Algorithm 1's own overshoot: each DeepFool step enters v lengthened by 1+push, so the "
                        f"image stays fooled after later updates (default {PUSH})")
    p.add_argument("--chunk", type=int, default=None,
                   help=f"Algorithm 1's images per sequential sub-update inside a batch's update, each seeing the "
                        f"v left by the previous one (a divisor of --batch; --batch: one update per batch; default "
                        f"{CHUNK}, or the largest divisor of --batch below it: 1 for an odd --batch)")
    p.add_argument("--step-size", type=float, default=None, help="sgd step length (default: eps/4)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<model>-<method>-<norm>)")
    p.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out")
    p.add_argument("--checkpoint-every", type=int, default=4, help="batches between checkpoints")
    p.add_argument("--workers", type=int, default=None, help="image decoding threads (default: CPU count)")
    p.add_argument("--cache-dir", default=None,
                   help="converted-weights cache (default: $ROBUSTNESS_CACHE or ~/.cache/robustness-geometry)")
    p.add_argument("--distributed", action="store_true",
                   help="join a multi-host run via jax.distributed.initialize() (also IMAGENET_DISTRIBUTED=1)")
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no progress bar on stderr")
    return p.parse_args(list(argv))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of the command line (eps defaulting to the paper's for the norm)."""
    try:
        norm = attacks.parse_norm(args.norm)
    except ValueError as err:
        raise ArgumentError(f"--norm: {err}") from None
    eps = PAPER_EPS[norm] if args.eps is None else args.eps
    return RunConfig(norm=norm, eps=eps, method=args.method, batch=args.batch, seed=args.seed,
                     passes=args.passes, target=args.target, top_k=args.top_k, overshoot=args.overshoot,
                     max_iter=args.max_iter, push=args.push, chunk=args.chunk, step_size=args.step_size).validated()


def run_command(args: argparse.Namespace) -> dict:
    """The ``run`` subcommand: validate everything cheap first, then load the model and run."""
    config = config_from_args(args)
    sharding.initialize_distributed(True if args.distributed else None)
    from imagenet.classes import NUM_CLASSES
    from imagenet.classifier import label_names
    from imagenet.models import load_chosen

    choice = choose_model(args.model)
    if args.checkpoint_every < 1:
        raise ArgumentError(f"--checkpoint-every must be at least 1, got {args.checkpoint_every}")
    out = args.out or os.path.join("runs", f"{choice.folder}-{config.method}-{'l2' if config.norm == '2' else 'linf'}")
    # created and tested first, then locked for the whole run; removed again if the run fails while empty
    with output_folder(out) as folder, run_lock(folder):
        check_out_folder(folder, args.resume, choice.spec)
        splits = build_splits(args.data, args.images, args.val, config.seed)
        classifier, classes = load_chosen(choice, cache_dir=args.cache_dir)
        # without --chunk the run chooses it, so a checkpoint of one update per batch (every
        # run from before --chunk) resumes as it began
        chosen = config if args.chunk is not None else dataclasses.replace(config, chunk=None)
        return run_universal(classifier, splits, chosen, out, resume=args.resume,
                             class_names=label_names(classifier, classes), checkpoint_every=args.checkpoint_every,
                             workers=args.workers, progress=not args.no_progress, model_spec=choice.spec,
                             label_classes=NUM_CLASSES) | {"out": out}


def summary(metrics: dict) -> str:
    """A few lines for the terminal."""
    held = metrics["fooling_rate_heldout"]
    top = ", ".join(f"{d['name']} ({d['count']})" for d in metrics["dominant_labels"][:3]) or "-"
    return "\n".join([
        f"fooling rate {metrics['fooling_rate']:.1%} on {metrics['images_used']} images, "
        f"held-out {'-' if held is None else f'{held:.1%}'} on {metrics['val_used']}",
        f"dominant labels: {top}",
        skipped_line(metrics["skipped"]),
        *([duplicates_line(metrics["duplicates_dropped"])] if metrics.get("duplicates_dropped") else []),
        f"wrote {metrics['out']}/metrics.json, perturbation.npy, perturbation.png",
    ])


def skipped_line(skipped: dict[str, int]) -> str:
    """How many files were skipped and why, e.g. ``skipped 3 files: 2 not an image, 1 too small (...)``."""
    total = sum(skipped.values())
    if not total:
        return "skipped no file: every image was readable"
    reasons = ", ".join(f"{n} {REASON_TEXT.get(reason, reason)}"
                        for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
    return f"skipped {total} file{'s' if total > 1 else ''}: {reasons}"


def duplicates_line(dropped: int) -> str:
    """How many files of ``--data`` were dropped as duplicates (one file reached twice through links)."""
    return (f"dropped {dropped} duplicate file{'s' if dropped > 1 else ''} of --data: the same file reached "
            f"again through a link, used once")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print a summary; bad input -> one line on stderr, exit code 2."""
    return run_main(argv, parse_args, run_command,
                    lambda args, metrics: summary(metrics) if jax.process_index() == 0 else None,
                    disk_hint="free the space or fix --out, then add --resume",
                    interrupted="interrupted; continue from the last checkpoint with the same "
                                "options and --resume")
