"""The device side of a universal-perturbation run: jitted, masked, data-parallel steps.

Every step takes a batch with a row mask (padding and skipped files are False)
and reason codes for the skipped files, and returns replicated results (the
updated perturbation, counts summed over the batch), so the same code runs on
one device, on all devices of a host and across hosts (see imagenet.sharding).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import attacks
from imagenet import data, sharding


def reason_counts(codes: jax.Array) -> jax.Array:
    """i32[len(SKIP_REASONS) + 1]: how many rows carry each reason code."""
    return jnp.sum(jax.nn.one_hot(codes, len(data.SKIP_REASONS) + 1, dtype=jnp.int32), axis=0)


def clean_labels(logits_fn, x, mask, known=None):
    """The clean predictions ``f(x)`` (i32[b]), with a forward pass only when needed.

    ``known`` (i32[b]) holds the labels found in an earlier pass, -1 where not yet
    known: the forward pass runs only if a usable row (``mask``) lacks one, so from
    the second pass on the steps skip it. Masked rows come back as -1.
    """
    if known is None:
        clean = attacks.predict(logits_fn, x)
    else:
        clean = lax.cond(jnp.any(mask & (known < 0)), lambda: attacks.predict(logits_fn, x),
                         lambda: known.astype(jnp.int32))
    return jnp.where(mask, clean, -1)


class Pending(NamedTuple):
    """The images of a pass still unfooled when they came up, waiting for a full batch.

    ``P`` is the padded batch size; rows whose ``items`` is -1 are empty.
    """

    x: jax.Array        # f32[P, res, res, 3]
    items: jax.Array    # i32[P], the training item index of each row (-1: empty)
    labels: jax.Array   # i32[P], each row's clean label


def empty_pending(shape, dtype=jnp.float32) -> Pending:
    """A :class:`Pending` with no image, for batches of ``shape`` (``(P, res, res, 3)``)."""
    return Pending(jnp.zeros(shape, dtype), jnp.full(shape[:1], -1, jnp.int32),
                   jnp.full(shape[:1], -1, jnp.int32))


class StepOut(NamedTuple):
    """What a training step returns, the same fields for every method (replicated).

    A method that keeps no images waiting (``sgd``) returns ``pending`` None.
    """

    v: jax.Array                # f32[res, res, 3], the updated perturbation
    pending: Pending | None     # the images waiting for a full batch after this one
    fooled: jax.Array           # i32, images of the batch fooled by the old v
    valid: jax.Array            # i32, usable images in the batch
    skipped: jax.Array          # i32[len(data.SKIP_REASONS) + 1], the batch's rows per reason code
    clean: jax.Array            # i32[P], clean labels (-1 on masked rows), kept for the next passes


def _pending_update(logits_fn, v, pending: Pending, eps, overshoot, push, *, norm, top_k, max_iter, batch,
                    chunk=None):
    """Algorithm 1's update of ``v`` on the pending rows (the empty ones masked).

    ``chunk`` (a divisor of ``batch``; None: ``batch``) images per sequential sub-update. In
    pieces, only the first ``batch`` rows are used (the waiting images come first; the rows
    past ``batch`` are empty), so the pieces are the same on any number of devices.
    """
    if chunk is None or chunk == batch:
        chunk = None  # one update on all the rows, as before --chunk
    else:
        pending = jax.tree.map(lambda a: a[:batch], pending)
    return attacks.universal_update(logits_fn, v, pending.x, pending.labels, norm=norm, eps=eps, top_k=top_k,
                                    overshoot=overshoot, max_iter=max_iter, push=push,
                                    mask=pending.items >= 0, chunk=chunk)


def compact_step(logits_fn, v, pending: Pending, x, mask, codes, items, eps, overshoot, push, *, norm, top_k,
                 max_iter, batch, chunk=None, known=None):
    """One batch of Algorithm 1 in which only the unfooled images pay for DeepFool.

    A forward pass of ``x + v`` finds the batch's images that ``v`` already fools
    (Algorithm 1 skips them); the others join ``pending`` (in arrival order). Once
    ``batch`` images are pending, DeepFool runs on exactly those (each one tested
    again against the ``v`` in force then) and updates ``v``; the rest wait for the
    next batches. So the costly linearisations run on full batches of unfooled
    images, not on batches where the fooled are masked out. (``batch``, not the
    padded ``P``, makes a batch full, so the updates are the same on any number of
    devices.)

    Args:
      logits_fn: classifier pytree; v: f32[res, res, 3]; pending: the waiting images
      (at most ``batch - 1``); x: f32[P, res, res, 3]; mask: bool[P]; codes: i32[P]
      skip reasons; items: i32[P] the rows' training item indices (-1 for padding);
      eps, overshoot, push: traced scalars; batch: images per update (static, <= P);
      chunk: images per sequential sub-update inside an update (static, divides ``batch``;
      None: ``batch``, one update); known: i32[P] clean labels from an earlier pass (-1: unknown), or None.

    Returns:
      A :class:`StepOut`: the new v and pending, the counts of the batch, its clean labels.
    """
    clean = clean_labels(logits_fn, x, mask, known)
    fooled = mask & (attacks.predict(logits_fn, x + v) != clean)
    arrived = Pending(x, jnp.where(mask & ~fooled, items, -1), clean)
    rows = pending.x.shape[0]
    both = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), pending, arrived)
    order = jnp.argsort(both.items < 0, stable=True)          # waiting rows first, oldest first
    both = jax.tree.map(lambda a: a[order], both)
    head = jax.tree.map(lambda a: a[:rows], both)

    def update():
        first = head._replace(items=jnp.where(jnp.arange(rows) < batch, head.items, -1))
        rest = jax.tree.map(lambda a: a[batch:batch + rows], both)
        return _pending_update(logits_fn, v, first, eps, overshoot, push, norm=norm, top_k=top_k,
                               max_iter=max_iter, batch=batch, chunk=chunk), rest

    v, pending = lax.cond(jnp.sum(both.items >= 0) >= batch, update, lambda: (v, head))
    return StepOut(v, pending, jnp.sum(fooled), jnp.sum(mask), reason_counts(codes), clean)


def flush_step(logits_fn, v, pending: Pending, eps, overshoot, push, *, norm, top_k, max_iter, batch=None,
               chunk=None):
    """The end of a pass: the update on the images still pending (a partial batch), if any.

    ``batch`` and ``chunk`` as in :func:`compact_step` (the pending rows are fewer than
    ``batch``, so in pieces the trailing ones hold only empty rows and are skipped).

    Returns:
      (new v, an empty Pending).
    """
    v = lax.cond(jnp.any(pending.items >= 0),
                 lambda: _pending_update(logits_fn, v, pending, eps, overshoot, push, norm=norm, top_k=top_k,
                                         max_iter=max_iter, batch=batch, chunk=chunk),
                 lambda: v)
    return v, empty_pending(pending.x.shape, pending.x.dtype)


def sgd_step(logits_fn, v, x, mask, codes, eps, step_size, *, norm, loss, known=None):
    """One masked ascent step on the batch's mean attack loss (as attacks.sgd_universal_step).

    Returns:
      A :class:`StepOut` whose ``pending`` is None (no image waits between ascent steps).
    """
    clean = clean_labels(logits_fn, x, mask, known)
    weight = mask.astype(x.dtype)
    loss_fn = attacks.margin_loss if loss == "margin" else attacks.ce_loss

    def objective(v):
        logits = logits_fn(x + v)
        return jnp.sum(weight * loss_fn(logits, clean)) / jnp.maximum(jnp.sum(weight), 1.0), logits

    (_, logits), g = jax.value_and_grad(objective, has_aux=True)(v)
    fooled = jnp.sum(mask & (jnp.argmax(logits, axis=-1) != clean))
    v = attacks.project((v + step_size * attacks.steepest_direction(g[None], norm)[0])[None], norm, eps)[0]
    return StepOut(v, None, fooled, jnp.sum(mask), reason_counts(codes), clean)


def evaluate_batch(logits_fn, v, x, mask, labels, codes):
    """Counts for one batch under ``v``.

    Returns:
      dict of i32 scalars ``fooled``, ``valid``, ``correct`` (clean prediction
      equals a known label), ``labelled`` (labels from 0 to classes - 1); ``hist`` i32[classes] (where the
      fooled images went); ``skipped`` i32[6].
    """
    clean = attacks.predict(logits_fn, x)
    moved = attacks.predict(logits_fn, x + v)
    fooled = mask & (moved != clean)
    classes = jax.eval_shape(logits_fn, x).shape[-1]
    labelled = mask & (labels >= 0) & (labels < classes)  # a label the model cannot give is no label of its
    return {
        "fooled": jnp.sum(fooled), "valid": jnp.sum(mask),
        "correct": jnp.sum(labelled & (clean == labels)), "labelled": jnp.sum(labelled),
        "hist": jnp.sum(jax.nn.one_hot(moved, classes, dtype=jnp.int32) * fooled[:, None], axis=0),
        "skipped": reason_counts(codes),
    }


class Jitted(NamedTuple):
    """The steps jitted for one layout (:func:`compiled_steps`)."""

    compact: Callable   # compact_step
    flush: Callable     # flush_step
    sgd: Callable       # sgd_step
    evaluate: Callable  # evaluate_batch


@functools.cache
def compiled_steps(dp: sharding.DataParallel) -> Jitted:
    """The steps jitted for ``dp``: outputs replicated, inputs as placed.

    Cached per layout, so every run and resume in a process reuses the compiled programs.
    """
    out = dp.replicated
    return Jitted(
        compact=jax.jit(compact_step, static_argnames=("norm", "top_k", "max_iter", "batch", "chunk"),
                        out_shardings=out),
        flush=jax.jit(flush_step, static_argnames=("norm", "top_k", "max_iter", "batch", "chunk"), out_shardings=out),
        sgd=jax.jit(sgd_step, static_argnames=("norm", "loss"), out_shardings=out),
        evaluate=jax.jit(evaluate_batch, out_shardings=out),
    )


def device_batches(items, batch, resolution, dp, preprocess, workers, order=None, start_batch=0):
    """Global device arrays (x, mask, labels, reasons) per batch; this process decodes its rows."""
    padded = sharding.padded_batch_size(batch, dp)
    rows = sharding.local_rows(padded, dp)
    for b in data.iter_batches(items, batch, resolution, preprocess=preprocess, order=order,
                               start_batch=start_batch, padded=padded, rows=rows, workers=workers):
        yield tuple(sharding.put_batch(dp, a) for a in (b.x, b.mask, b.labels, b.reasons))


def evaluate_items(logits_fn, v, items, batch, resolution, dp, preprocess, workers=None) -> dict:
    """Counts of :func:`evaluate_batch` for ``v`` (f32[res, res, 3]) summed over ``items``.

    ``logits_fn`` should already be replicated on ``dp`` (sharding.put_replicated).
    """
    evaluate = compiled_steps(dp).evaluate
    v = sharding.put_replicated(dp, jnp.asarray(v))
    total = None
    for x, mask, labels, codes in device_batches(items, batch, resolution, dp, preprocess, workers):
        counts = {k: sharding.fetch(c) for k, c in evaluate(logits_fn, v, x, mask, labels, codes).items()}
        total = counts if total is None else {k: total[k] + counts[k] for k in total}
    return total


def dominant_labels(hist: Sequence[int], names: Sequence[str] | None, top: int = 10) -> list[dict]:
    """The classes the perturbation sends images to, most frequent first (non-zero counts only)."""
    hist = np.asarray(hist)
    order = np.argsort(-hist, kind="stable")[:top]
    return [{"label": int(i), "name": names[i] if names is not None else str(int(i)), "count": int(hist[i])}
            for i in order if hist[i] > 0]
