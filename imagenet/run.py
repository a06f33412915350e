"""``python -m imagenet run``: a universal perturbation of an ImageNet model, streamed and resumable.

The runner streams the training images in mini-batches and updates one
perturbation ``v`` per batch: ``attacks.universal_update`` (``--method deepfool``,
Algorithm 1 of Moosavi-Dezfooli et al. 2017) or a masked stochastic ascent step
(``--method sgd``, Shafahi et al. 2020). After each pass over the training
images it measures the fooling rate of ``v`` on all of them and keeps the best
``v``; it stops when that rate reaches ``--target`` or after ``--passes``
passes, then measures the best ``v`` on the held-out images.

State is checkpointed atomically every ``--checkpoint-every`` batches and at
the end of each pass; ``--resume`` continues from the checkpoint and ends with
the same perturbation, bit for bit, as a run that was never interrupted (the
batches are fixed slices of a seeded order and the steps are deterministic).

Outputs in ``--out``: metrics.json, perturbation.npy (f32[res, res, 3], pixel
scale), perturbation.png (scaled for visibility), checkpoint.npz.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import attacks
from imagenet import artifacts, data, sharding, steps

METHODS = ("deepfool", "sgd")
PAPER_EPS = {"inf": 10.0, "2": 2000.0}  # the paper's budgets in pixel scale [0, 255]
CHECKPOINT = "checkpoint.npz"


class ArgumentError(ValueError):
    """A bad command-line value (reported as one line, exit code 2)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines the perturbation (and so must match on --resume).

    Attributes:
      norm: "2" or "inf" (see attacks.parse_norm).
      eps: radius of B_eps in pixel units [0, 255].
      method: "deepfool" (Algorithm 1) or "sgd" (stochastic ascent).
      batch: images per update.
      seed: seed of the one jax.random.key everything is drawn from.
      passes: most passes over the training images.
      target: stop once the fooling rate on the training images reaches this.
      top_k, overshoot, max_iter: DeepFool's.
      step_size: sgd step length in the norm (None: eps / 4).
      loss: sgd loss, "margin" or "ce".
    """

    norm: str = "inf"
    eps: float = 10.0
    method: str = "deepfool"
    batch: int = 8
    seed: int = 0
    passes: int = 2
    target: float = 0.8
    top_k: int = 10
    overshoot: float = 0.02
    max_iter: int = 10
    step_size: float | None = None
    loss: str = "margin"

    def validated(self) -> "RunConfig":
        """This config with the norm normalised; raises ArgumentError naming a bad value."""
        try:
            norm = attacks.parse_norm(self.norm)
        except ValueError as err:
            raise ArgumentError(f"--norm: {err}") from None
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ArgumentError(f"--eps must be a positive number of pixel units (0-255 scale), got {self.eps}")
        if self.method not in METHODS:
            raise ArgumentError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for flag, value, least in (("--batch", self.batch, 1), ("--passes", self.passes, 1),
                                   ("--top-k", self.top_k, 2), ("--max-iter", self.max_iter, 1)):
            if value < least:
                raise ArgumentError(f"{flag} must be at least {least}, got {value}")
        if not 0 < self.target <= 1:
            raise ArgumentError(f"--target must be in (0, 1], got {self.target}")
        if self.step_size is not None and not self.step_size > 0:
            raise ArgumentError(f"--step-size must be positive, got {self.step_size}")
        if self.loss not in ("margin", "ce"):
            raise ArgumentError(f"loss must be margin or ce, got {self.loss!r}")
        return dataclasses.replace(self, norm=norm, eps=float(self.eps))


class Splits(NamedTuple):
    """The training images (the perturbation is computed on them) and the held-out ones."""

    train: list[data.Item]
    val: list[data.Item]
    source: str
    data_dir: str | None = None  # None: the bundled photos


# ----------------------------------------------------------------------------- run state


@dataclasses.dataclass
class RunState:
    """Where a run is; everything a checkpoint holds."""

    v: np.ndarray
    best_v: np.ndarray
    best_rate: float = 0.0
    best_hist: list[int] = dataclasses.field(default_factory=list)
    history: list[float] = dataclasses.field(default_factory=list)
    pass_index: int = 0
    batch_index: int = 0
    phase: str = "train"  # train -> evaluate -> train ... -> done
    skipped: list[int] = dataclasses.field(default_factory=lambda: [0] * (len(data.SKIP_REASONS) + 1))
    images_used: int = 0
    correct: int = 0
    labelled: int = 0
    attack_images: int = 0
    attack_seconds: float = 0.0


def fingerprint(model: str, resolution: int, config: RunConfig, splits: Splits) -> str:
    """A hash of what determines the perturbation; a checkpoint only resumes a matching run.

    ``passes`` and ``target`` only say when to stop, so they may change on resume.
    """
    items = [list(i) for i in splits.train] + ["|"] + [list(i) for i in splits.val]
    settings = dataclasses.asdict(dataclasses.replace(config, passes=1, target=1.0))
    blob = json.dumps([model, resolution, settings, items], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_checkpoint(path: Path, state: RunState, key_data: np.ndarray, tag: str) -> None:
    """Atomically write ``state`` (process 0 only)."""
    if jax.process_index() != 0:
        return
    meta = {k: getattr(state, k) for k in ("best_rate", "best_hist", "history", "pass_index", "batch_index",
                                             "phase", "skipped", "images_used", "correct", "labelled",
                                             "attack_images", "attack_seconds")}
    meta["fingerprint"] = tag
    artifacts.save_npz(path, {"v": state.v, "best_v": state.best_v, "key": key_data}, meta)


def load_checkpoint(path: Path, key_data: np.ndarray, tag: str) -> RunState:
    """Read a checkpoint; raises ArgumentError if it belongs to a different run."""
    try:
        arrays, meta = artifacts.load_npz(path)
    except (OSError, ValueError, KeyError) as err:
        raise ArgumentError(f"cannot read checkpoint {path}: {err}") from None
    if meta.get("fingerprint") != tag or not np.array_equal(arrays["key"], key_data):
        raise ArgumentError(f"{path} is a checkpoint of a run with other settings (model, data, seed or "
                            "attack options); use the same options or another --out")
    fields = {k: meta[k] for k in meta if k != "fingerprint"}
    return RunState(v=arrays["v"], best_v=arrays["best_v"], **fields)


# ----------------------------------------------------------------------------- the run


def pass_order(key: jax.Array, pass_index: int, n: int) -> np.ndarray:
    """The order of the training images in pass ``pass_index``: a permutation of n."""
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, pass_index), n))


@dataclasses.dataclass
class _Run:
    """What the phases of one run share (built by run_universal)."""

    classifier: object
    logits_fn: object  # replicated on dp
    splits: Splits
    config: RunConfig
    dp: sharding.DataParallel
    preprocess: Callable
    workers: int | None
    ckpt: Path
    key_data: np.ndarray
    tag: str
    k_order: jax.Array
    checkpoint_every: int
    bar: object = None
    steps_taken: int = 0
    clean: np.ndarray | None = None  # i32[train]: clean labels found so far (-1: not yet)

    def batches(self, items, **kwargs):
        return steps.device_batches(items, self.config.batch, self.classifier.resolution, self.dp,
                                    self.preprocess, self.workers, **kwargs)

    def save(self, state: RunState) -> None:
        save_checkpoint(self.ckpt, state, self.key_data, self.tag)

    def step_fn(self):
        """(step, eps, extra): the jitted update with its static options bound, and its two traced scalars."""
        c, jitted = self.config, steps.compiled_steps(self.dp)
        if c.method == "deepfool":
            step = functools.partial(jitted["deepfool"], norm=c.norm, top_k=c.top_k, max_iter=c.max_iter)
            return step, np.float32(c.eps), np.float32(c.overshoot)
        step = functools.partial(jitted["sgd"], norm=c.norm, loss=c.loss)
        return step, np.float32(c.eps), np.float32(c.eps / 4 if c.step_size is None else c.step_size)

    def train_pass(self, state: RunState, v: jax.Array, stop_after: int | None) -> jax.Array | None:
        """Update v over the rest of the current pass, checkpointing; None if stopped by ``stop_after``.

        Throughput counts the time between step completions (decoding included), leaving out
        the first step of an invocation, which compiles.
        """
        step, eps, extra = self.step_fn()
        n_batches = data.count_batches(len(self.splits.train), self.config.batch)
        order = pass_order(self.k_order, state.pass_index, len(self.splits.train))
        last = time.perf_counter() if self.steps_taken else None
        if self.clean is None:
            self.clean = np.full(len(self.splits.train), -1, np.int32)
        padded = sharding.padded_batch_size(self.config.batch, self.dp)
        rows = sharding.local_rows(padded, self.dp)
        for x, mask, _, codes in self.batches(self.splits.train, order=order, start_batch=state.batch_index):
            index = order[state.batch_index * self.config.batch:(state.batch_index + 1) * self.config.batch]
            if jax.process_count() == 1 and not np.any(sharding.fetch(mask)):
                # nothing decoded: the step would leave v as it is, so skip its cost
                fooled, valid, skipped = 0, 0, steps.reason_counts(codes)
            else:
                # clean labels of earlier passes spare the steps their clean forward pass
                known = np.full(padded, -1, np.int32)
                known[:len(index)] = self.clean[index]
                v, fooled, valid, skipped, clean = step(self.logits_fn, v, x, mask, codes, eps, extra,
                                                        known=sharding.put_batch(self.dp, known[rows]))
                self.clean[index] = sharding.fetch(clean)[:len(index)]
            valid = int(sharding.fetch(valid))
            now = time.perf_counter()
            if last is not None:
                state.attack_images += valid
                state.attack_seconds += now - last
            last = now
            state.batch_index += 1
            if state.pass_index == 0:
                state.skipped = [a + int(b) for a, b in zip(state.skipped, sharding.fetch(skipped))]
                state.images_used += valid
            self.steps_taken += 1
            if self.bar is not None:
                self.bar.set_postfix(pass_=state.pass_index + 1, fooled=f"{int(sharding.fetch(fooled))}/{valid}",
                                     refresh=False)
                self.bar.update(1)
            if stop_after is not None and self.steps_taken >= stop_after:
                return None
            if state.batch_index % self.checkpoint_every == 0 and state.batch_index < n_batches:
                state.v = sharding.fetch(v)
                self.save(state)
        if state.pass_index == 0 and state.images_used == 0:
            raise data.DataError(f"no readable image among the {len(self.splits.train)} training files "
                                 f"(skipped: {data.skipped_counts(state.skipped)})")
        state.v = sharding.fetch(v)
        state.phase, state.batch_index = "evaluate", 0
        self.save(state)
        return v

    def evaluate_pass(self, state: RunState) -> None:
        """Fooling rate of the pass's v on all training images; keep the best; decide whether to go on."""
        res = self.classifier.resolution
        counts = steps.evaluate_items(self.logits_fn, state.v, self.splits.train, self.config.batch, res,
                                      self.dp, self.preprocess, self.workers)
        rate = float(counts["fooled"]) / max(int(counts["valid"]), 1)
        state.history.append(rate)
        state.correct, state.labelled = int(counts["correct"]), int(counts["labelled"])
        if rate > state.best_rate or state.pass_index == 0:
            state.best_rate, state.best_v = rate, state.v
            state.best_hist = [int(c) for c in counts["hist"]]
        state.pass_index += 1
        done = state.best_rate >= self.config.target or state.pass_index >= self.config.passes
        state.phase = "done" if done else "train"
        self.save(state)

    def metrics(self, state: RunState, class_names, started: float) -> dict:
        """Measure the best v on the held-out images and assemble metrics.json."""
        splits, config = self.splits, self.config
        held = (steps.evaluate_items(self.logits_fn, state.best_v, splits.val, config.batch,
                                     self.classifier.resolution, self.dp, self.preprocess, self.workers)
                if splits.val else None)
        skipped = np.asarray(state.skipped) + (held["skipped"] if held else 0)
        correct = state.correct + (int(held["correct"]) if held else 0)
        labelled = state.labelled + (int(held["labelled"]) if held else 0)
        best = np.asarray(state.best_v, np.float64)
        return {
            "model": self.classifier.name, "resolution": self.classifier.resolution, "method": config.method,
            "norm": config.norm, "eps": config.eps, "seed": config.seed,
            "data": splits.source, "data_dir": splits.data_dir,
            "images": len(splits.train), "images_used": state.images_used,
            "val": len(splits.val), "val_used": int(held["valid"]) if held else 0,
            "fooling_rate": state.best_rate,
            "fooling_rate_heldout": float(held["fooled"]) / int(held["valid"]) if held and held["valid"] else None,
            "fooling_rate_history": state.history,
            "passes": state.pass_index, "target": config.target,
            "clean_accuracy": correct / labelled if labelled else None, "labelled_images": labelled,
            "dominant_labels": steps.dominant_labels(state.best_hist, class_names),
            "dominant_labels_heldout": steps.dominant_labels(held["hist"], class_names) if held else [],
            "perturbation_norm": {"l2": float(np.sqrt(np.sum(best**2))), "linf": float(np.max(np.abs(best)))},
            "skipped": data.skipped_counts(skipped),
            "devices": self.dp.n_devices, "processes": jax.process_count(),
            "attack_images_per_second": state.attack_images / state.attack_seconds if state.attack_seconds else None,
            "seconds_this_invocation": time.perf_counter() - started,
            "config": dataclasses.asdict(config),
        }


def run_universal(
    classifier,
    splits: Splits,
    config: RunConfig,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    dp: sharding.DataParallel | None = None,
    preprocess: Callable[[np.ndarray, int], np.ndarray] = data.default_preprocess,
    class_names: Sequence[str] | None = None,
    checkpoint_every: int = 4,
    workers: int | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict | None:
    """Compute, checkpoint and save a universal perturbation of ``classifier``.

    Args:
      classifier: has ``name``, ``resolution`` and ``logits_fn`` (f32[n, res, res, 3] in
        [0, 255] -> f32[n, classes]), e.g. imagenet.models.Classifier.
      splits: training and held-out items.
      config: the attack settings (validated here).
      out_dir: folder for checkpoint.npz, metrics.json, perturbation.npy/.png.
      resume: continue from ``out_dir/checkpoint.npz`` (a fresh run if there is none).
      dp: the data-parallel layout (default: every device).
      preprocess: (uint8 image, resolution) -> f32[res, res, 3].
      class_names: names for dominant_labels (default: the class index as text).
      checkpoint_every: batches between checkpoints (one is also written after each pass).
      workers: decoding threads.
      progress: show a tqdm bar (process 0 only).
      stop_after: stop (without outputs) after this many update steps, as an interrupted run would.

    Returns:
      the metrics dict also written to metrics.json (None if stopped by ``stop_after``).

    Raises:
      ArgumentError: a checkpoint exists and ``resume`` is False, or it belongs to another run.
      data.DataError: no readable training image.
    """
    config = config.validated()
    if checkpoint_every < 1:
        raise ArgumentError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    started = time.perf_counter()
    dp = dp or sharding.make_data_parallel()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT
    k_order = jax.random.split(jax.random.key(config.seed), 2)[1]
    key_data = np.asarray(jax.random.key_data(k_order))
    tag = fingerprint(classifier.name, classifier.resolution, config, splits)
    for stale in out.glob(".*.tmp") if jax.process_index() == 0 else ():  # a write cut short by a kill
        stale.unlink(missing_ok=True)
    if ckpt.exists() and not resume:
        raise ArgumentError(f"{out} already holds a run ({CHECKPOINT}); add --resume to continue it "
                            "or choose another --out")
    if ckpt.exists():
        state = load_checkpoint(ckpt, key_data, tag)
        finished = state.pass_index >= config.passes or (state.history and state.best_rate >= config.target)
        if state.phase == "done" and not finished:
            state.phase = "train"  # resumed with more --passes (or a higher --target): go on
        elif state.phase == "train" and state.pass_index >= config.passes:
            state.phase = "done"  # resumed with fewer --passes: keep the best of the finished passes
    else:
        zeros = np.zeros((classifier.resolution, classifier.resolution, 3), np.float32)
        state = RunState(v=zeros, best_v=zeros)

    r = _Run(classifier, sharding.put_replicated(dp, classifier.logits_fn), splits, config, dp, preprocess,
             workers, ckpt, key_data, tag, k_order, checkpoint_every)
    n_batches = data.count_batches(len(splits.train), config.batch)
    if progress and jax.process_index() == 0:
        from tqdm import tqdm

        total = config.passes * n_batches
        r.bar = tqdm(total=total, initial=min(state.pass_index * n_batches + state.batch_index, total),
                     desc=f"universal {config.method} {classifier.name}", unit="batch", file=sys.stderr,
                     dynamic_ncols=True)
    v = sharding.put_replicated(dp, jnp.asarray(state.v))
    try:
        while state.phase != "done":
            if state.phase == "train":
                v = r.train_pass(state, v, stop_after)
                if v is None:
                    return None
            if state.phase == "evaluate":
                r.evaluate_pass(state)
    finally:
        if r.bar is not None:
            r.bar.close()

    metrics = r.metrics(state, class_names, started)
    if jax.process_index() == 0:
        best = np.asarray(state.best_v, np.float32)
        artifacts.save_npy(out / "perturbation.npy", best)
        artifacts.save_png(out / "perturbation.png", artifacts.visible(best))
        artifacts.save_json(out / "metrics.json", metrics)
    return metrics


# ----------------------------------------------------------------------------- command line


def build_splits(data_dir: str | None, images: int, val: int, seed: int) -> Splits:
    """Training / held-out items from a folder, or from the bundled photos if ``data_dir`` is None.

    Raises:
      data.DataError: missing or empty folder, or too few images for the split.
    """
    k_split = jax.random.split(jax.random.key(seed), 2)[0]
    if data_dir is None:
        train, held = data.bundled_splits(images, val, k_split)
        return Splits(train, held, "bundled scikit-image photos")
    train, held = data.split_items(data.folder_items(data_dir), images, val, k_split)
    path = str(Path(data_dir).resolve())
    return Splits(train, held, path, path)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line on stderr, exit code 2."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = OneLineParser(prog="python -m imagenet run", description=__doc__.splitlines()[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="efficientnet-lite0", help="efficientnet-lite0|1|2 or lite0|1|2")
    p.add_argument("--data", default=None, help="ImageNet-style folder (synset subfolders) or a flat folder "
                   "of images (default: the photos bundled with scikit-image)")
    p.add_argument("--images", type=int, default=16, help="training images the perturbation is computed on")
    p.add_argument("--val", type=int, default=8, help="held-out images, disjoint from the training ones")
    p.add_argument("--norm", default="linf", help="linf or l2")
    p.add_argument("--eps", type=float, default=None,
                   help="radius in pixel units (0-255 scale); default the paper's: 10 for linf, 2000 for l2")
    p.add_argument("--method", default="deepfool", help="deepfool (Algorithm 1) or sgd (stochastic ascent)")
    p.add_argument("--batch", type=int, default=8, help="images per update")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--passes", type=int, default=2, help="most passes over the training images")
    p.add_argument("--target", type=float, default=0.8, help="stop once the training fooling rate reaches it")
    p.add_argument("--top-k", type=int, default=10, help="DeepFool candidate classes")
    p.add_argument("--overshoot", type=float, default=0.02, help="DeepFool overshoot")
    p.add_argument("--max-iter", type=int, default=10, help="DeepFool iterations per update")
    p.add_argument("--step-size", type=float, default=None, help="sgd step length (default eps/4)")
    p.add_argument("--out", default=None, help="output folder (default runs/<model>-<method>-<norm>)")
    p.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out")
    p.add_argument("--checkpoint-every", type=int, default=4, help="batches between checkpoints")
    p.add_argument("--workers", type=int, default=None, help="image decoding threads (default: CPU count)")
    p.add_argument("--cache-dir", default=None, help="converted-weights cache")
    p.add_argument("--distributed", action="store_true",
                   help="join a multi-host run via jax.distributed.initialize() (also IMAGENET_DISTRIBUTED=1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
                     max_iter=args.max_iter, step_size=args.step_size).validated()


def run_command(args: argparse.Namespace) -> dict:
    """The ``run`` subcommand: validate everything cheap first, then load the model and run."""
    config = config_from_args(args)
    sharding.initialize_distributed(True if args.distributed else None)
    from imagenet.classes import class_names
    from imagenet.models import load_model, resolve_model_name

    try:
        name = resolve_model_name(args.model)
    except ValueError as err:
        raise ArgumentError(f"--model: {err}") from None
    splits = build_splits(args.data, args.images, args.val, config.seed)
    out = args.out or os.path.join("runs", f"{name}-{config.method}-{'l2' if config.norm == '2' else 'linf'}")
    classifier = load_model(name, cache_dir=args.cache_dir)
    return run_universal(classifier, splits, config, out, resume=args.resume, class_names=class_names(),
                         checkpoint_every=args.checkpoint_every, workers=args.workers,
                         progress=not args.no_progress) | {"out": out}


def summary(metrics: dict) -> str:
    """A few lines for the terminal."""
    held = metrics["fooling_rate_heldout"]
    top = ", ".join(f"{d['name']} ({d['count']})" for d in metrics["dominant_labels"][:3]) or "-"
    return "\n".join([
        f"fooling rate {metrics['fooling_rate']:.1%} on {metrics['images_used']} images, "
        f"held-out {'-' if held is None else f'{held:.1%}'} on {metrics['val_used']}",
        f"dominant labels: {top}",
        f"wrote {metrics['out']}/metrics.json, perturbation.npy, perturbation.png",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print a summary; bad input -> one line on stderr, exit code 2."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        metrics = run_command(args)
    except (ArgumentError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue from the last checkpoint with the same options and --resume", file=sys.stderr)
        return 130
    if jax.process_index() == 0:
        print(summary(metrics))
    return 0
