"""Universal perturbations: Algorithm 1 of Moosavi-Dezfooli et al. (CVPR 2017), batched.

The algorithm looks for one ``v`` in B_eps that changes the label of as many points as
possible. It makes passes over the data in a random order (one ``key`` split per pass);
for each point not yet fooled by ``v`` it computes DeepFool's minimal perturbation ``dv``
of ``x + v`` and sets ``v <- project(v + dv)``.

Here the points come in mini-batches of ``batch_size``: within a mini-batch the DeepFool
perturbations of the points not yet fooled are computed together and summed before
projecting. A mini-batch can be split into ``chunk``-sized pieces processed one after the
other (``lax.scan``), each seeing the ``v`` left by the previous one: ``chunk=1`` is the
original one-point-at-a-time algorithm, ``chunk=batch_size`` the fully batched update.
After every update the fooling rate on all of ``x`` is measured and the best ``v`` seen is
returned (the last one can be worse: the algorithm oscillates).

Two phases. The first half of the passes is plain Algorithm 1 (it explores: far points
drag ``v`` around). The second half starts again from the best ``v`` and leaves out points
whose DeepFool perturbation from ``x + v`` is longer than ``focus_reach * eps``: they cannot
be fooled near ``v``, and their long vectors would otherwise dominate the sum and pull ``v``
off a narrow optimum. ``restarts`` runs independent orders in parallel (``vmap``) and keeps
the best. Everything runs in one jitted function: ``lax.while_loop`` over passes and over
the mini-batches of a pass (so a run stops at the update that reached ``target_rate``),
``lax.scan`` over the chunks of a mini-batch.

Choices, measured against the brute-force optimum of 2D tasks (bands, ring, wavy blobs, a
trained MLP; 3 data sets x 3 keys x l2/linf; ratios are worst cases): summing the DeepFool
perturbations reaches 0.99 where their mean stalls at 0 on the ring (they cancel); chunk=1
(one point at a time) 0.91; plain sum, batch 16, 4 restarts 0.93 (a narrow optimum of the
MLP); with the focused second half 0.987 (0.973 with one restart), and 1.0 on the
preset tasks of ``toymodels`` (7 settings x 2 norms).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> from attacks.fooling import fooling_rate
    >>> def bands(x):  # horizontal bands of height 1
    ...     return jnp.stack([jnp.zeros(x.shape[0]), jnp.sin(jnp.pi * x[:, 1])], axis=1)
    >>> x = jnp.stack([jnp.linspace(-2, 2, 64), jnp.tile(jnp.array([0.9, 1.9]), 32)], 1)
    >>> v = universal_perturbation(bands, x, norm=2, eps=0.2, key=jax.random.key(0))
    >>> v.shape, float(fooling_rate(bands, x, v))
    ((2,), 1.0)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.deepfool import check_deepfool_args, deepfool_steps
from attacks.fooling import (as_batch, as_labels, as_logits_fn, as_mask, as_point,
                             reference_labels)
from attacks.norms import lp_norm, parse_norm, project
from attacks.passes import RESTARTS, best_of_restarts, best_over_passes

AGGREGATES = ("sum", "mean")
PUSH = 0.0  # the inner step's own overshoot (see universal_update's ``push``)


def _update(logits_fn, v, x, labels, valid, eps, overshoot, reach, push, *, norm, top_k, max_iter,
            aggregate, chunk):
    """Traceable one-mini-batch update; ``valid: bool[b]`` masks padding rows; points whose
    DeepFool perturbation is longer than ``reach * eps`` are left out; each point's DeepFool
    perturbation is lengthened by ``1 + push`` before it is added.

    Returns ``(v, fooled)``: the new ``v`` and ``bool[b]``, the valid rows that the ``v`` in
    force when their piece came up already fooled (Algorithm 1 skips them). One forward pass
    of ``x + v`` serves both that test and DeepFool's first linearisation.
    """
    b = x.shape[0]
    pieces = b // chunk

    def piece(v, batch):
        xs, ys, ok = batch
        if pieces == 1:
            return step(v, xs, ys, ok)
        # a piece of padding only (a partial batch in pieces) costs no forward pass
        return jax.lax.cond(jnp.any(ok), step, lambda v, xs, ys, ok: (v, ok), v, xs, ys, ok)

    def step(v, xs, ys, ok):
        moved = xs + v
        logits = logits_fn(moved)
        unfooled = jnp.argmax(logits, axis=-1).astype(jnp.int32) == ys
        active = ok & unfooled
        # label -1 (no class) for masked rows: DeepFool counts them as fooled, so they never
        # keep its loop going
        r = deepfool_steps(logits_fn, moved, jnp.where(ok, ys, -1), overshoot, norm=norm,
                           top_k=top_k, max_iter=max_iter, logits=logits)
        active = active & (lp_norm(r, norm) <= reach * eps)
        r = jnp.where(active.reshape((-1,) + (1,) * (x.ndim - 1)), r, 0.0)
        dv = (1.0 + push) * jnp.sum(r, axis=0)
        if aggregate == "mean":
            dv = dv / jnp.maximum(jnp.sum(active), 1).astype(dv.dtype)
        return project((v + dv)[None], norm, eps)[0], ok & ~unfooled

    def split(a):
        return a.reshape((pieces, chunk) + a.shape[1:])

    v, fooled = jax.lax.scan(piece, v, (split(x), split(labels), split(valid)))
    return v, fooled.reshape(b)


@functools.partial(jax.jit, static_argnames=("norm", "top_k", "max_iter", "aggregate", "chunk"))
def _universal_update(logits_fn, v, x, labels, valid, eps, overshoot, reach, push, *, norm, top_k,
                      max_iter, aggregate, chunk):
    labels = reference_labels(logits_fn, x, labels)
    return _update(logits_fn, v, x, labels, valid, eps, overshoot, reach, push, norm=norm, top_k=top_k,
                   max_iter=max_iter, aggregate=aggregate, chunk=chunk)


def _check(aggregate, chunk, batch_size):
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}: use one of {', '.join(AGGREGATES)}")
    if chunk < 1 or batch_size % chunk:
        raise ValueError(f"chunk must be a positive divisor of the batch size {batch_size}, "
                         f"got {chunk}")


def universal_update(logits_fn, v, x, labels=None, *, norm, eps, top_k: int = 10,
                     overshoot=0.02, max_iter: int = 10, aggregate: str = "sum",
                     chunk: int | None = None, reach=float("inf"), push=PUSH, mask=None,
                     with_fooled: bool = False):
    """One mini-batch step of Algorithm 1, for runners that stream data and checkpoint.

    Args:
        logits_fn: classifier ``f32[b, *shape] -> f32[b, classes]`` (Partial or callable).
        v: ``f32[*shape]``, the current universal perturbation.
        x: ``f32[b, *shape]``, the mini-batch.
        labels: ``i32[b]`` labels to change; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        eps: radius of the ball ``v`` is projected on, traced.
        top_k, overshoot, max_iter: DeepFool's (static, traced, static).
        aggregate: ``"sum"`` or ``"mean"`` of the DeepFool perturbations of the points of a
            chunk not yet fooled, static.
        chunk: size of the pieces of ``x`` processed one after the other (must divide
            ``b``); ``None`` means ``b`` (one batched update), static.
        reach: traced; points whose DeepFool perturbation from ``x + v`` is longer than
            ``reach * eps`` are left out of the update (``inf``, the default, keeps all, as
            Algorithm 1 does).
        push: traced; each point's DeepFool perturbation ``r`` enters the update as
            ``(1 + push) r``: DeepFool's own small ``overshoot`` leaves a point just past the
            boundary, where the next updates of ``v`` undo it; a push carries it further in,
            so it stays fooled (DeepFool itself stays the minimal perturbation).
        mask: ``bool[b]``, the rows to use (``None``: all); padding rows are False and add
            nothing to the update or to ``fooled``.
        with_fooled: also return which rows were already fooled (static).

    Returns:
        ``f32[*shape]``, the new ``v`` with ``|v|_p <= eps``; with ``with_fooled``, the pair
        ``(v, fooled)`` with ``fooled: bool[b]`` the used rows whose label ``x + v`` already
        changed before the update (the ``v`` before their chunk), from the same forward pass.

    Example:
        >>> import jax.numpy as jnp
        >>> def bands(x):  # horizontal bands of height 1
        ...     return jnp.stack([jnp.zeros(x.shape[0]), jnp.sin(jnp.pi * x[:, 1])], axis=1)
        >>> x = jnp.array([[0.0, 0.9], [1.0, 0.5], [2.0, 0.95]])  # the last row is padding
        >>> v, fooled = universal_update(bands, jnp.array([0.0, 0.15]), x, norm=2, eps=0.2,
        ...                              mask=jnp.array([True, True, False]), with_fooled=True)
        >>> fooled.tolist(), float(jnp.linalg.norm(v)) <= 0.2 + 1e-6
        ([True, False, False], True)
    """
    check_deepfool_args(top_k, max_iter)
    x = as_batch(x)
    chunk = x.shape[0] if chunk is None else int(chunk)
    _check(aggregate, chunk, x.shape[0])
    v, valid = as_point(v, x), as_mask(mask, x.shape[0])
    v, fooled = _universal_update(
        as_logits_fn(logits_fn), v, x, as_labels(labels, x.shape[0]), valid,
        jnp.asarray(eps, x.dtype), jnp.asarray(overshoot, x.dtype), jnp.asarray(reach, x.dtype),
        jnp.asarray(push, x.dtype), norm=parse_norm(norm), top_k=int(top_k), max_iter=int(max_iter), aggregate=aggregate,
        chunk=chunk)
    return (v, fooled) if with_fooled else v


@functools.partial(jax.jit, static_argnames=(
    "norm", "top_k", "max_iter", "aggregate", "chunk", "batch_size", "restarts"))
def _universal(logits_fn, x, labels, eps, key, overshoot, target_rate, max_passes, focus_reach,
               push, *, norm, top_k, max_iter, aggregate, chunk, batch_size, restarts):
    labels = reference_labels(logits_fn, x, labels)
    explore = (max_passes + 1) // 2          # passes of plain Algorithm 1, then focused ones

    def update(p, v, idx, ok):
        reach = jnp.where(p < explore, jnp.inf, focus_reach).astype(x.dtype)
        v, _ = _update(logits_fn, v, x[idx], labels[idx], ok, eps, overshoot, reach, push, norm=norm,
                       top_k=top_k, max_iter=max_iter, aggregate=aggregate, chunk=chunk)
        return v

    def start_pass(p, v, best_v):
        return jnp.where(p == explore, best_v, v)   # the focused passes start from the best

    def run(key):
        return best_over_passes(logits_fn, x, labels, jnp.zeros(x.shape[1:], x.dtype), key,
                                update, batch_size=batch_size, max_passes=max_passes,
                                target_rate=target_rate, start_pass=start_pass,
                                across=RESTARTS)

    return best_of_restarts(run, key, restarts)


def universal_perturbation(logits_fn, x, labels=None, *, norm, eps, key, batch_size: int = 16,
                           max_passes: int = 10, target_rate=1.0, restarts: int = 4,
                           top_k: int = 10, overshoot=0.02, max_iter: int = 10,
                           aggregate: str = "sum", chunk: int | None = None,
                           focus_reach=1.0, push=PUSH) -> jax.Array:
    """One perturbation in B_eps that fools as many points of ``x`` as it can.

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]`` (Partial or callable).
        x: ``f32[n, *shape]``, the data.
        labels: ``i32[n]`` labels to change; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        eps: radius, traced.
        key: ``jax.random.key`` for the orders of the passes.
        batch_size: points per update (the last mini-batch is padded), static.
        max_passes: most passes over the data; traced (it only bounds a while loop, so a new
            value does not recompile).
        target_rate: stop after the update at which the fooling rate (of any
            restart) reached it, traced.
        restarts: independent runs with different orders (in parallel), static.
        top_k, overshoot, max_iter: DeepFool's, as in :func:`universal_update`.
        aggregate, chunk: how a mini-batch's DeepFool perturbations combine, as in
            :func:`universal_update`.
        focus_reach: the ``reach`` of the second half of the passes, traced (``inf`` makes
            every pass plain Algorithm 1).
        push: the inner step's own overshoot, traced, as in :func:`universal_update`.

    Returns:
        ``f32[*shape]`` (``x.shape[1:]``): the best ``v`` seen, ``|v|_p <= eps``.
    """
    check_deepfool_args(top_k, max_iter)
    if batch_size < 1 or max_passes < 1 or restarts < 1:
        raise ValueError(f"batch_size, max_passes and restarts must be at least 1, got "
                         f"{batch_size}, {max_passes} and {restarts}")
    x = as_batch(x)
    chunk = batch_size if chunk is None else int(chunk)
    _check(aggregate, chunk, batch_size)
    return _universal(as_logits_fn(logits_fn), x, as_labels(labels, x.shape[0]),
                      jnp.asarray(eps, x.dtype), key, jnp.asarray(overshoot, x.dtype),
                      jnp.asarray(target_rate, jnp.float32), jnp.asarray(max_passes, jnp.int32),
                      jnp.asarray(focus_reach, x.dtype), jnp.asarray(push, x.dtype),
                      norm=parse_norm(norm), top_k=int(top_k),
                      max_iter=int(max_iter), aggregate=aggregate, chunk=chunk,
                      batch_size=int(batch_size), restarts=int(restarts))
