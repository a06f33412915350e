"""The device side of a universal-perturbation run: jitted, masked, data-parallel steps.

Every step takes a batch with a row mask (padding and skipped files are False)
and reason codes for the skipped files, and returns replicated results (the
updated perturbation, counts summed over the batch), so the same code runs on
one device, on all devices of a host and across hosts (see imagenet.sharding).
"""

from __future__ import annotations

import functools
from typing import Sequence

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


def deepfool_step(logits_fn, v, x, mask, codes, eps, overshoot, *, norm, top_k, max_iter, known=None):
    """One batch of Algorithm 1 with padding and skipped files masked out.

    Before DeepFool's linearisations: the clean labels (a forward pass unless ``known``
    has them all, see :func:`clean_labels`), and a forward pass of ``x + v``, whose
    logits both count the images the old ``v`` fools and start DeepFool.

    Args:
      logits_fn: classifier pytree; v: f32[res, res, 3]; x: f32[b, res, res, 3];
      mask: bool[b]; codes: i32[b] skip reasons; eps, overshoot: traced scalars;
      known: i32[b] clean labels from an earlier pass (-1: unknown), or None.

    Returns:
      (new v, i32 images of the batch fooled by the old v, i32 images in the batch,
      i32[6] skip counts, i32[b] clean labels (-1 on masked rows)).
    """
    clean = clean_labels(logits_fn, x, mask, known)
    v, fooled = attacks.universal_update(logits_fn, v, x, clean, norm=norm, eps=eps, top_k=top_k,
                                         overshoot=overshoot, max_iter=max_iter, mask=mask,
                                         with_fooled=True)
    return v, jnp.sum(fooled), jnp.sum(mask), reason_counts(codes), clean


def sgd_step(logits_fn, v, x, mask, codes, eps, step_size, *, norm, loss, known=None):
    """One masked ascent step on the batch's mean attack loss (as attacks.sgd_universal_step).

    Returns:
      as deepfool_step.
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
    return v, fooled, jnp.sum(mask), reason_counts(codes), clean


def evaluate_batch(logits_fn, v, x, mask, labels, codes):
    """Counts for one batch under ``v``.

    Returns:
      dict of i32 scalars ``fooled``, ``valid``, ``correct`` (clean prediction
      equals a known label), ``labelled``; ``hist`` i32[classes] (where the
      fooled images went); ``skipped`` i32[6].
    """
    clean = attacks.predict(logits_fn, x)
    moved = attacks.predict(logits_fn, x + v)
    fooled = mask & (moved != clean)
    labelled = mask & (labels >= 0)
    classes = jax.eval_shape(logits_fn, x).shape[-1]
    return {
        "fooled": jnp.sum(fooled), "valid": jnp.sum(mask),
        "correct": jnp.sum(labelled & (clean == labels)), "labelled": jnp.sum(labelled),
        "hist": jnp.sum(jax.nn.one_hot(moved, classes, dtype=jnp.int32) * fooled[:, None], axis=0),
        "skipped": reason_counts(codes),
    }


@functools.cache
def compiled_steps(dp: sharding.DataParallel):
    """The three steps jitted for ``dp``: outputs replicated, inputs as placed."""
    out = dp.replicated
    return {
        "deepfool": jax.jit(deepfool_step, static_argnames=("norm", "top_k", "max_iter"), out_shardings=out),
        "sgd": jax.jit(sgd_step, static_argnames=("norm", "loss"), out_shardings=out),
        "evaluate": jax.jit(evaluate_batch, out_shardings=out),
    }


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
    evaluate = compiled_steps(dp)["evaluate"]
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
