"""The passes of a universal-perturbation run: :func:`run_universal`.

The runner streams the training images in mini-batches and updates one
perturbation ``v`` per batch: ``attacks.universal_update`` (``method="deepfool"``,
Algorithm 1 of Moosavi-Dezfooli et al. 2017) or a masked stochastic ascent step
(``method="sgd"``, Shafahi et al. 2020). After each pass over the training
images it measures the fooling rate of ``v`` on all of them and keeps the best
``v``; it stops when that rate reaches the target or after the last pass, then
measures the best ``v`` on the held-out images.

State is checkpointed atomically (:mod:`imagenet.checkpoint`) every
``checkpoint_every`` batches and at the end of each pass; a resumed run ends with
the same perturbation, bit for bit, as a run that was never interrupted (the
batches are fixed slices of a seeded order and the steps are deterministic). No
checkpoint is written before the data has given a usable image, and the run holds
``out_dir``'s lock (:mod:`imagenet.runlock`) from its checkpoint's check to its last
write, so a second run on the same folder is refused rather than mixed with it.

Outputs in ``out_dir``: metrics.json, perturbation.npy (f32[res, res, 3], pixel
scale), perturbation.png (scaled for visibility), checkpoint.npz.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from imagenet import artifacts, data, sharding, steps
from imagenet.checkpoint import (CHECKPOINT, Bounds, RunState, fingerprint, open_state, remove_own_temporaries,
                                 save_checkpoint)
from imagenet.methods import Method, method_for
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.classifier import num_classes
from imagenet.runlock import run_lock
from imagenet.runmetrics import run_metrics
from imagenet.splits import Splits, without_labels
from store import write_json


def pass_order(key: jax.Array, pass_index: int, n: int) -> np.ndarray:
    """The order of the training images in pass ``pass_index``: a permutation of n."""
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, pass_index), n))


class Throughput:
    """Images attacked per second: the time between step completions, decoding included.

    The first step of an invocation compiles, so the interval before it is left out.
    """

    def __init__(self):
        self.steps = 0
        self.last: float | None = None

    def start_pass(self) -> None:
        """Start timing a pass: its first step counts from now, unless no step has run yet."""
        self.last = time.perf_counter() if self.steps else None

    def step_done(self, state: RunState, images: int) -> None:
        """Add the interval since the last step (and its ``images``) to ``state``'s totals."""
        now = time.perf_counter()
        if self.last is not None:
            state.attack_images += images
            state.attack_seconds += now - self.last
        self.last = now
        self.steps += 1


class LabelCache:
    """The clean label of each training image found so far (-1: not yet), by item index.

    Clean labels found in one pass spare later passes their clean forward pass.
    """

    def __init__(self, n: int, config: RunConfig, dp: sharding.DataParallel):
        self.labels = np.full(n, -1, np.int32)
        self.padded_size = sharding.padded_batch_size(config.batch, dp)
        self.rows = sharding.local_rows(self.padded_size, dp)
        self.dp = dp

    def padded(self, values: np.ndarray) -> jax.Array:
        """A batch's per-item ``values`` (i32[<= padded]), padded with -1, as this process's rows of a global array."""
        out = np.full(self.padded_size, -1, np.int32)
        out[:len(values)] = values
        return sharding.put_batch(self.dp, out[self.rows])

    def known(self, index: np.ndarray) -> jax.Array:
        """The labels of the batch's items (``index``), padded, as this process's rows of a global array."""
        return self.padded(self.labels[index])

    def indices(self, index: np.ndarray) -> jax.Array:
        """The batch's item indices (``index``), padded with -1, as this process's rows of a global array."""
        return self.padded(index)

    def update(self, index: np.ndarray, clean: jax.Array) -> None:
        """Keep the step's clean labels (i32[padded], replicated) of the batch's items."""
        self.labels[index] = sharding.fetch(clean)[:len(index)]


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
    model_spec: str
    method: Method
    bar: object = None
    timer: Throughput = dataclasses.field(default_factory=Throughput)
    labels: LabelCache | None = None
    pending: steps.Pending | None = None  # Algorithm 1's images waiting for a full batch
    started: float = dataclasses.field(default_factory=time.perf_counter)  # the invocation's start

    def batches(self, items, **kwargs):
        return steps.device_batches(items, self.config.batch, self.classifier.resolution, self.dp,
                                    self.preprocess, self.workers, **kwargs)

    def save(self, state: RunState) -> None:
        save_checkpoint(self.ckpt, state, self.key_data, self.tag, self.model_spec)


def _attack_batch(r: _Run, v, x, mask, codes, index):
    """One update of ``v`` on a batch: (v, fooled, valid, skip counts).

    A batch with nothing decoded (single process) would leave ``v`` as it is, so its
    step is skipped.
    """
    if jax.process_count() == 1 and not np.any(sharding.fetch(mask)):
        return v, 0, 0, steps.reason_counts(codes)
    out = r.method.step(r.logits_fn, v, r.pending, x, mask, codes, r.labels.indices(index), r.labels.known(index))
    r.pending = out.pending
    r.labels.update(index, out.clean)
    return out.v, out.fooled, out.valid, out.skipped


def _restore_pending(r: _Run, state: RunState) -> steps.Pending:
    """The pending images of ``state`` (a checkpoint's item indices), decoded again in their order."""
    shape = (r.labels.padded_size, r.classifier.resolution, r.classifier.resolution, 3)
    if not state.pending_items:
        return sharding.put_replicated(r.dp, steps.empty_pending(shape))
    order = np.asarray(state.pending_items)
    x, mask, _, _ = next(r.batches(r.splits.train, order=order))
    items = jnp.where(mask, r.labels.indices(order), -1)
    return steps.Pending(x, items, r.labels.padded(np.asarray(state.pending_labels, np.int32)))


def _keep_pending(r: _Run, state: RunState) -> None:
    """Write the pending images' item indices and labels into ``state`` (for its checkpoint)."""
    if r.pending is None:
        state.pending_items, state.pending_labels = [], []
        return
    items, labels = sharding.fetch(r.pending.items), sharding.fetch(r.pending.labels)
    waiting = items >= 0
    state.pending_items = [int(i) for i in items[waiting]]
    state.pending_labels = [int(i) for i in labels[waiting]]


def _end_pass(r: _Run, v):
    """The method's update on the images still waiting at the end of a pass."""
    v, r.pending = r.method.flush(r.logits_fn, v, r.pending)
    return v


def _count_batch(state: RunState, valid: int, skipped) -> None:
    """Advance the batch index; in the first pass, count the images used and the files skipped."""
    state.batch_index += 1
    if state.pass_index == 0:
        state.skipped = [a + int(b) for a, b in zip(state.skipped, sharding.fetch(skipped))]
        state.images_used += valid


def _show_progress(bar, state: RunState, fooled, valid: int) -> None:
    if bar is not None:
        bar.set_postfix(pass_=state.pass_index + 1, fooled=f"{int(sharding.fetch(fooled))}/{valid}", refresh=False)
        bar.update(1)


def train_pass(r: _Run, state: RunState, v: jax.Array, stop_after: int | None) -> jax.Array | None:
    """Update v over the rest of the current pass, checkpointing; None if stopped by ``stop_after``."""
    batch, n_train = r.config.batch, len(r.splits.train)
    n_batches = data.count_batches(n_train, batch)
    order = pass_order(r.k_order, state.pass_index, n_train)
    r.timer.start_pass()
    if r.labels is None:
        r.labels = LabelCache(n_train, r.config, r.dp)
    if r.method.waits and (r.pending is None or state.batch_index == 0):
        r.pending = _restore_pending(r, state)
    for x, mask, _, codes in r.batches(r.splits.train, order=order, start_batch=state.batch_index):
        index = order[state.batch_index * batch:(state.batch_index + 1) * batch]
        v, fooled, valid, skipped = _attack_batch(r, v, x, mask, codes, index)
        valid = int(sharding.fetch(valid))
        r.timer.step_done(state, valid)
        _count_batch(state, valid, skipped)
        _show_progress(r.bar, state, fooled, valid)
        if stop_after is not None and r.timer.steps >= stop_after:
            return None
        # no checkpoint before the data has given one usable image: a run on unreadable files
        # stops without leaving a run behind in --out
        if state.batch_index % r.checkpoint_every == 0 and state.batch_index < n_batches and state.images_used:
            state.v = sharding.fetch(v)
            _keep_pending(r, state)
            r.save(state)
    if state.pass_index == 0 and state.images_used == 0:
        raise data.DataError(f"no readable image among the {n_train} training files "
                             f"(skipped: {data.skipped_counts(state.skipped)})")
    v = _end_pass(r, v)
    state.v = sharding.fetch(v)
    _keep_pending(r, state)
    state.phase, state.batch_index = "evaluate", 0
    r.save(state)
    return v


def evaluate_pass(r: _Run, state: RunState) -> None:
    """Fooling rate of the pass's v on all training images; keep the best; decide whether to go on."""
    counts = steps.evaluate_items(r.logits_fn, state.v, r.splits.train, r.config.batch, r.classifier.resolution,
                                  r.dp, r.preprocess, r.workers)
    rate = float(counts["fooled"]) / max(int(counts["valid"]), 1)
    state.history.append(rate)
    state.correct, state.labelled = int(counts["correct"]), int(counts["labelled"])
    if rate > state.best_rate or state.pass_index == 0:
        state.best_rate, state.best_v = rate, state.v
        state.best_hist = [int(c) for c in counts["hist"]]
    state.pass_index += 1
    done = state.best_rate >= r.config.target or state.pass_index >= r.config.passes
    state.phase = "done" if done else "train"
    r.save(state)


def _progress_bar(r: _Run, state: RunState):
    """A tqdm bar over all passes' batches, started where ``state`` is (process 0 only)."""
    from tqdm import tqdm

    n_batches = data.count_batches(len(r.splits.train), r.config.batch)
    total = r.config.passes * n_batches
    return tqdm(total=total, initial=min(state.pass_index * n_batches + state.batch_index, total),
                desc=f"universal {r.config.method} {r.classifier.name}", unit="batch", file=sys.stderr,
                dynamic_ncols=True)


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
    model_spec: str | None = None,
    label_classes: int | None = None,
) -> dict | None:
    """Compute, checkpoint and save a universal perturbation of ``classifier``.

    Args:
      classifier: has ``name``, ``resolution`` and ``logits_fn`` (f32[n, res, res, 3] in
        [0, 255] -> f32[n, classes]), e.g. imagenet.Classifier.
      splits: training and held-out items.
      config: the attack settings (validated here).
      out_dir: folder for checkpoint.npz, metrics.json, perturbation.npy/.png.
      resume: continue from ``out_dir/checkpoint.npz`` (a fresh run if there is none).
      dp: the data-parallel layout (default: every device).
      preprocess, workers: (uint8 image, resolution) -> f32[res, res, 3]; the decoding threads.
      class_names: names for dominant_labels (default: the class index as text).
      checkpoint_every: batches between checkpoints (one is also written after each pass).
      progress, stop_after: show a tqdm bar (process 0 only); stop (without outputs) after this
        many update steps, as an interrupted run would.
      model_spec: the ``--model`` the classifier came from, recorded in the checkpoint (a resume
        with another is refused) and in metrics.json (default ``classifier.name``).
      label_classes: the class count the items' labels are ids of (1000 for ImageNet folders):
        a classifier of another count is measured without them (no clean accuracy); None: as given.

    Returns:
      the metrics dict also written to metrics.json (None if stopped by ``stop_after``).

    Raises:
      ArgumentError: a checkpoint exists and ``resume`` is False, or it belongs to another run or
        is damaged; another run holds ``out`` (:class:`imagenet.runlock.FolderBusy`).
      data.DataError: no readable training image (no checkpoint is left behind then).
    """
    config = config.validated()
    if checkpoint_every < 1:
        raise ArgumentError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k_order = jax.random.split(jax.random.key(config.seed), 2)[1]
    key_data = np.asarray(jax.random.key_data(k_order))
    model_spec = classifier.name if model_spec is None else model_spec
    splits = _own_labels(splits, classifier, label_classes)
    tag = fingerprint(model_spec, classifier.resolution, config, splits)
    dp = dp or sharding.make_data_parallel()
    r = _Run(classifier, None, splits, config, dp, preprocess, workers, out / CHECKPOINT, key_data, tag, k_order,
             checkpoint_every, model_spec, method_for(config, dp))
    with run_lock(out):  # one run at a time in out, from its checkpoint's check to its last write
        return _run_locked(r, resume, progress, stop_after, class_names)


def _own_labels(splits: Splits, classifier, label_classes: int | None) -> Splits:
    """``splits`` without their labels if they are ids of ``label_classes`` classes and the
    classifier has another count (they would mean nothing to it)."""
    if label_classes is not None and num_classes(classifier) != label_classes:
        return splits._replace(train=without_labels(splits.train), val=without_labels(splits.val))
    return splits


def _run_locked(r: _Run, resume: bool, progress: bool, stop_after: int | None, class_names) -> dict | None:
    """The body of :func:`run_universal` under the folder's lock: open the state, run the
    passes, write the outputs.

    Args:
      r: the run (its ``logits_fn`` is replicated here, once the state is known).
      resume, progress, stop_after, class_names: as :func:`run_universal`.

    Returns:
      The metrics, or None if stopped by ``stop_after``.
    """
    out, classifier, config = r.ckpt.parent, r.classifier, r.config
    bounds = Bounds(len(r.splits.train), config.batch, num_classes(classifier), config.method)
    state = open_state(out, config, classifier.resolution, r.key_data, r.tag, resume=resume,
                       model_spec=r.model_spec, bounds=bounds)
    remove_own_temporaries(out)  # only once the run may go on, and only its own names
    r.logits_fn = sharding.put_replicated(r.dp, classifier.logits_fn)
    if progress and jax.process_index() == 0:
        r.bar = _progress_bar(r, state)
    v = sharding.put_replicated(r.dp, jnp.asarray(state.v))
    try:
        while state.phase != "done":
            if state.phase == "train":
                v = train_pass(r, state, v, stop_after)
                if v is None:
                    return None
            if state.phase == "evaluate":
                evaluate_pass(r, state)
    finally:
        if r.bar is not None:
            r.bar.close()

    result = run_metrics(r, state, class_names, r.started)
    if jax.process_index() == 0:
        artifacts.save_perturbation(out, state.best_v)
        write_json(out / "metrics.json", result)
    return result
