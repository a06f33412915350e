"""The update a universal-perturbation run makes per batch: :class:`Method`, chosen once by :func:`method_for`.

``deepfool`` is Algorithm 1 of Moosavi-Dezfooli et al. 2017, its DeepFool updates on full
batches of images ``v`` does not fool yet (:func:`imagenet.steps.compact_step`); ``sgd``
is a masked stochastic ascent step (Shafahi et al. 2020, :func:`imagenet.steps.sgd_step`).
The loop calls a method's ``step`` and ``flush`` alike for both.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np

from imagenet import sharding, steps
from imagenet.runconfig import RunConfig


class Method(NamedTuple):
    """One method's step, its end-of-pass flush and whether images wait between batches.

    Attributes:
      step: ``(logits_fn, v, pending, x, mask, codes, items, known) -> steps.StepOut``: one
        update of ``v`` on a batch (``items``: the rows' training item indices, -1 for padding;
        ``known``: clean labels from earlier passes, -1 where not yet known).
      flush: ``(logits_fn, v, pending) -> (v, pending)``: the update on the images still
        waiting at the end of a pass, leaving none.
      waits: whether images wait between batches (``pending``, checkpointed by item index);
        without, ``pending`` is None throughout.
    """

    step: Callable[..., steps.StepOut]
    flush: Callable
    waits: bool


def method_for(config: RunConfig, dp: sharding.DataParallel) -> Method:
    """The :class:`Method` of ``config.method``, its settings bound, jitted for ``dp``.

    Args:
      config: the validated run settings (``method`` is ``deepfool`` or ``sgd``).
      dp: the data-parallel layout the steps run on.

    Returns:
      The method; its traced scalars (eps, overshoot, push, step length) are float32.
    """
    jitted = steps.compiled_steps(dp)
    eps = np.float32(config.eps)
    if config.method == "deepfool":
        return _deepfool(jitted, config, eps)
    step_size = np.float32(config.eps / 4 if config.step_size is None else config.step_size)
    sgd = functools.partial(jitted.sgd, norm=config.norm, loss=config.loss)

    def step(logits_fn, v, pending, x, mask, codes, items, known):
        return sgd(logits_fn, v, x, mask, codes, eps, step_size, known=known)

    return Method(step, _no_flush, waits=False)


def _deepfool(jitted: steps.Jitted, config: RunConfig, eps: np.float32) -> Method:
    options = dict(norm=config.norm, top_k=config.top_k, max_iter=config.max_iter)
    extra = (np.float32(config.overshoot), np.float32(config.push))
    options.update(batch=config.batch, chunk=config.chunk)  # chunk None: one update per batch
    compact = functools.partial(jitted.compact, **options)

    def step(logits_fn, v, pending, x, mask, codes, items, known):
        return compact(logits_fn, v, pending, x, mask, codes, items, eps, *extra, known=known)

    def flush(logits_fn, v, pending):
        return jitted.flush(logits_fn, v, pending, eps, *extra, **options)

    return Method(step, flush, waits=True)


def _no_flush(logits_fn, v, pending):
    """Nothing waits at the end of an ascent pass: ``v`` as it is."""
    return v, pending
