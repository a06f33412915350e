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
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from imagenet import artifacts, data, sharding, steps
from imagenet.checkpoint import (CHECKPOINT, Bounds, RunState, fingerprint, open_state, read_checkpoint,
                                 remove_own_temporaries, save_checkpoint)
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


class Throughput(NamedTuple):
    """Images attacked per second: the time between step completions, decoding included.

    The first step of an invocation compiles, so the interval before it is left out.
    """

    steps: int = 0              # the invocation's steps so far
    last: float | None = None   # when the last step ended (None: no interval is being timed)

    def start_pass(self) -> Throughput:
        """Start timing a pass: its first step counts from now, unless no step has run yet."""
        return self._replace(last=time.perf_counter() if self.steps else None)

    def step_done(self, state: RunState, images: int) -> tuple[Throughput, RunState]:
        """A step has ended: this clock, and ``state`` with the interval (and its ``images``) added."""
        now = time.perf_counter()
        if self.last is not None:
            state = dataclasses.replace(state, attack_images=state.attack_images + images,
                                        attack_seconds=state.attack_seconds + (now - self.last))
        return Throughput(self.steps + 1, now), state


class BatchRows(NamedTuple):
    """How a batch's per-item values go to the devices: padded to the layout's batch, this process's rows."""

    size: int       # the padded batch size
    rows: slice     # the rows this process supplies
    dp: sharding.DataParallel

    @classmethod
    def of(cls, batch: int, dp: sharding.DataParallel) -> BatchRows:
        """The rows of batches of ``batch`` items on ``dp``."""
        size = sharding.padded_batch_size(batch, dp)
        return cls(size, sharding.local_rows(size, dp), dp)

    def put(self, values: np.ndarray) -> jax.Array:
        """A batch's per-item ``values`` (i32[<= size]), padded with -1, as this process's rows of a global array."""
        out = np.full(self.size, -1, np.int32)
        out[:len(values)] = values
        return sharding.put_batch(self.dp, out[self.rows])


class Carry(NamedTuple):
    """What one invocation carries from batch to batch: the checkpointed state and what only memory holds."""

    state: RunState
    v: jax.Array                        # the current perturbation, replicated (state.v: its copy at checkpoints)
    pending: steps.Pending | None       # the method's images waiting for a full batch (None: none restored yet)
    labels: np.ndarray                  # i32[training images], each one's clean label once found (-1: not yet)
    clock: Throughput


@dataclasses.dataclass(frozen=True)
class _Run:
    """What the phases of one run share, unchanged by them (built by run_universal)."""

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
    rows: BatchRows
    bar: object = None  # the progress bar it writes to
    started: float = dataclasses.field(default_factory=time.perf_counter)  # the invocation's start

    def batches(self, items, **kwargs):
        return steps.device_batches(items, self.config.batch, self.classifier.resolution, self.dp,
                                    self.preprocess, self.workers, **kwargs)

    def save(self, state: RunState) -> None:
        save_checkpoint(self.ckpt, state, self.key_data, self.tag, self.model_spec)


def _attack_batch(r: _Run, c: Carry, x, mask, codes, index: np.ndarray) -> tuple[Carry, steps.StepOut]:
    """One update of ``v`` on a batch of the items ``index``: the carry after it and the step's output.

    A batch with nothing decoded (single process) would leave ``v`` as it is, so its
    step is skipped. Clean labels found here spare later passes their clean forward pass.
    """
    if jax.process_count() == 1 and not np.any(sharding.fetch(mask)):
        return c, steps.StepOut(c.v, c.pending, 0, 0, steps.reason_counts(codes), None)
    out = r.method.step(r.logits_fn, c.v, c.pending, x, mask, codes, r.rows.put(index), r.rows.put(c.labels[index]))
    labels = c.labels.copy()
    labels[index] = sharding.fetch(out.clean)[:len(index)]
    return c._replace(v=out.v, pending=out.pending, labels=labels), out


def _restore_pending(r: _Run, state: RunState) -> steps.Pending:
    """The pending images of ``state`` (a checkpoint's item indices), decoded again in their order."""
    shape = (r.rows.size, r.classifier.resolution, r.classifier.resolution, 3)
    if not state.pending_items:
        return sharding.put_replicated(r.dp, steps.empty_pending(shape))
    order = np.asarray(state.pending_items)
    x, mask, _, _ = next(r.batches(r.splits.train, order=order))
    items = jnp.where(mask, r.rows.put(order), -1)
    return steps.Pending(x, items, r.rows.put(np.asarray(state.pending_labels, np.int32)))


def _checkpoint(r: _Run, c: Carry, **changes) -> Carry:
    """Write the checkpoint of ``c``: its state with ``changes``, ``v`` and the pending images'
    item indices and labels (none without pending); ``c`` with that state."""
    items, labels = [], []
    if c.pending is not None:
        rows, row_labels = sharding.fetch(c.pending.items), sharding.fetch(c.pending.labels)
        waiting = rows >= 0
        items, labels = [int(i) for i in rows[waiting]], [int(i) for i in row_labels[waiting]]
    state = dataclasses.replace(c.state, v=sharding.fetch(c.v), pending_items=items, pending_labels=labels,
                                **changes)
    r.save(state)
    return c._replace(state=state)


def _count_batch(state: RunState, valid: int, skipped) -> RunState:
    """``state`` a batch on; in the first pass, with the batch's images used and files skipped counted."""
    if state.pass_index > 0:
        return dataclasses.replace(state, batch_index=state.batch_index + 1)
    return dataclasses.replace(state, batch_index=state.batch_index + 1, images_used=state.images_used + valid,
                               skipped=[a + int(b) for a, b in zip(state.skipped, sharding.fetch(skipped))])


def _show_progress(bar, state: RunState, fooled, valid: int) -> None:
    if bar is not None:
        bar.set_postfix(pass_=state.pass_index + 1, fooled=f"{int(sharding.fetch(fooled))}/{valid}", refresh=False)
        bar.update(1)


def train_pass(r: _Run, c: Carry, stop_after: int | None) -> Carry | None:
    """Update v over the rest of the current pass, checkpointing.

    Args:
      r: the run.
      c: where it is (phase ``train``).
      stop_after: stop once the invocation has made this many steps (None: never).

    Returns:
      Where it is after the pass (phase ``evaluate``, checkpointed), or None if stopped by ``stop_after``.

    Raises:
      data.DataError: the first pass found no readable training image.
    """
    batch, n_train = r.config.batch, len(r.splits.train)
    n_batches = data.count_batches(n_train, batch)
    order = pass_order(r.k_order, c.state.pass_index, n_train)
    c = c._replace(clock=c.clock.start_pass())
    if r.method.waits and (c.pending is None or c.state.batch_index == 0):
        c = c._replace(pending=_restore_pending(r, c.state))
    for x, mask, _, codes in r.batches(r.splits.train, order=order, start_batch=c.state.batch_index):
        index = order[c.state.batch_index * batch:(c.state.batch_index + 1) * batch]
        c, out = _attack_batch(r, c, x, mask, codes, index)
        valid = int(sharding.fetch(out.valid))
        clock, state = c.clock.step_done(c.state, valid)
        c = c._replace(clock=clock, state=_count_batch(state, valid, out.skipped))
        _show_progress(r.bar, c.state, out.fooled, valid)
        if stop_after is not None and c.clock.steps >= stop_after:
            return None
        # no checkpoint before the data has given one usable image: a run on unreadable files
        # stops without leaving a run behind in --out
        state = c.state
        if state.batch_index % r.checkpoint_every == 0 and state.batch_index < n_batches and state.images_used:
            c = _checkpoint(r, c)
    if c.state.pass_index == 0 and c.state.images_used == 0:
        raise data.DataError(f"no readable image among the {n_train} training files "
                             f"(skipped: {data.skipped_counts(c.state.skipped)})")
    v, pending = r.method.flush(r.logits_fn, c.v, c.pending)
    return _checkpoint(r, c._replace(v=v, pending=pending), phase="evaluate", batch_index=0)


def evaluate_pass(r: _Run, state: RunState) -> RunState:
    """Fooling rate of the pass's v on all training images; keep the best; decide whether to go on.

    Args:
      r: the run.
      state: where it is (phase ``evaluate``).

    Returns:
      The state after the pass (phase ``train`` or ``done``), checkpointed.
    """
    counts = steps.evaluate_items(r.logits_fn, state.v, r.splits.train, r.config.batch, r.classifier.resolution,
                                  r.dp, r.preprocess, r.workers)
    rate = float(counts["fooled"]) / max(int(counts["valid"]), 1)
    best = {}
    if rate > state.best_rate or state.pass_index == 0:
        best = dict(best_rate=rate, best_v=state.v, best_hist=[int(c) for c in counts["hist"]])
    state = dataclasses.replace(state, history=[*state.history, rate], correct=int(counts["correct"]),
                                labelled=int(counts["labelled"]), pass_index=state.pass_index + 1, **best)
    done = state.best_rate >= r.config.target or state.pass_index >= r.config.passes
    state = dataclasses.replace(state, phase="done" if done else "train")
    r.save(state)
    return state


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
    default_chunk = config.chunk is None  # a checkpoint from before --chunk may then resume as it was
    config = config.validated()
    if checkpoint_every < 1:
        raise ArgumentError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = _context(classifier, splits, config, out, dp or sharding.make_data_parallel(), preprocess,
                 workers, checkpoint_every, model_spec, label_classes)
    with run_lock(out):  # one run at a time in out, from its checkpoint's check to its last write
        if resume and default_chunk:
            r = _one_update_if_checkpointed(r)
        return _run_locked(r, resume, progress, stop_after, class_names)


def _context(classifier, splits, config, out, dp, preprocess, workers, checkpoint_every,
             model_spec, label_classes) -> _Run:
    """The run's unchanging context: its key, its own labels, its fingerprint, its method."""
    k_order = jax.random.split(jax.random.key(config.seed), 2)[1]
    key_data = np.asarray(jax.random.key_data(k_order))
    model_spec = classifier.name if model_spec is None else model_spec
    splits = _own_labels(splits, classifier, label_classes)
    tag = fingerprint(model_spec, classifier.resolution, config, splits)
    return _Run(classifier, None, splits, config, dp, preprocess, workers, out / CHECKPOINT, key_data, tag,
                k_order, checkpoint_every, model_spec, method_for(config, dp), BatchRows.of(config.batch, dp))


def _one_update_if_checkpointed(r: _Run) -> _Run:
    """``r`` with one update per batch (``chunk = batch``) if its checkpoint was written so, every
    checkpoint from before ``--chunk`` included: a run that did not ask for a chunk resumes as it began."""
    whole = dataclasses.replace(r.config, chunk=r.config.batch)
    if whole == r.config or not r.ckpt.exists():
        return r
    tag = fingerprint(r.model_spec, r.classifier.resolution, whole, r.splits)
    if read_checkpoint(r.ckpt)[1].get("fingerprint") != tag:
        return r
    return dataclasses.replace(r, config=whole, tag=tag, method=method_for(whole, r.dp))


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
    bar = _progress_bar(r, state) if progress and jax.process_index() == 0 else None
    r = dataclasses.replace(r, logits_fn=sharding.put_replicated(r.dp, classifier.logits_fn), bar=bar)
    c = Carry(state, sharding.put_replicated(r.dp, jnp.asarray(state.v)), None,
              np.full(len(r.splits.train), -1, np.int32), Throughput())
    try:
        while c.state.phase != "done":
            if c.state.phase == "train":
                c = train_pass(r, c, stop_after)
                if c is None:
                    return None
            if c.state.phase == "evaluate":
                c = c._replace(state=evaluate_pass(r, c.state))
    finally:
        if r.bar is not None:
            r.bar.close()

    result = run_metrics(r, c.state, class_names, r.started)
    if jax.process_index() == 0:
        artifacts.save_perturbation(out, c.state.best_v)
        write_json(out / "metrics.json", result)
    return result
