"""Passes over the data for universal perturbations: shared by both universal algorithms.

Algorithm 1 (:mod:`attacks.universal`) and stochastic ascent (:mod:`attacks.sgd_universal`)
differ only in how one mini-batch moves ``v``. Everything around that step is here: passes
over ``x`` in a fresh random order each (the last mini-batch padded, its padding rows
masked), the fooling rate on all of ``x`` after every update, the best ``v`` seen (the
last one can be worse: both algorithms oscillate), a stop once a pass reached the target
rate, and independent restarts in parallel (``vmap``) of which the best is kept. All of it
is traceable: ``lax.while_loop`` over passes, ``lax.scan`` over mini-batches.

Example:
    >>> import jax, jax.numpy as jnp
    >>> def two_classes(x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x[:, 0]], axis=1)
    >>> x = jnp.array([[0.5, 0.0], [0.25, 0.0], [-0.5, 0.0]])
    >>> labels = jnp.argmax(two_classes(x), axis=1)
    >>> def update(p, v, idx, ok):  # moves v left by 0.25 per mini-batch
    ...     return v - jnp.array([0.25, 0.0])
    >>> best, rate = best_over_passes(two_classes, x, labels, jnp.zeros(2), jax.random.key(0),
    ...                               update, batch_size=2, max_passes=3, target_rate=1.0)
    >>> best.tolist(), round(float(rate), 3)  # the first v that fools both points with x > 0
    ([-0.5, 0.0], 0.667)
    >>> best, rate = best_over_passes(two_classes, x, labels, jnp.zeros(2), jax.random.key(0),
    ...                               update, batch_size=1, max_passes=3, target_rate=0.3)
    >>> best.tolist(), round(float(rate), 3)  # stopped after the update that fooled one point
    ([-0.25, 0.0], 0.333)
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from attacks.fooling import predict

# update(p, v, idx i32[batch_size], ok bool[batch_size]) -> v: one mini-batch step of pass p
Update = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
# the vmapped axis of best_of_restarts: a loop stops once any restart reached the target
RESTARTS = "restarts"


def fooled_share(logits_fn, x: jax.Array, labels: jax.Array, v: jax.Array) -> jax.Array:
    """f32 scalar: the share of ``x`` (``f32[n, *shape]``) whose label ``x + v`` changes."""
    return jnp.mean((predict(logits_fn, x + v) != labels).astype(jnp.float32))


def best_over_passes(logits_fn, x, labels, v0, key, update: Update, *, batch_size: int,
                     max_passes, target_rate, start_pass=None,
                     across: str | None = None) -> tuple[jax.Array, jax.Array]:
    """Runs ``update`` over mini-batches of ``x`` for up to ``max_passes`` passes (traceable).

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]``.
        x: ``f32[n, *shape]``; labels: ``i32[n]``, the labels to change.
        v0: ``f32[*shape]``, the start (it counts as seen).
        key: ``jax.random.key``; pass ``p`` draws its order from the ``p``-th split.
        update: ``(p, v, idx, ok) -> v``: one mini-batch step; ``idx: i32[batch_size]``
            indexes ``x`` and ``ok: bool[batch_size]`` is False on padding rows.
        batch_size: rows per mini-batch, static.
        max_passes: most passes (traced); target_rate: stop after the update that reached it.
        start_pass: ``(p, v, best_v) -> v`` run before each pass (``None``: keep ``v``).
        across: the name of a ``vmap`` axis (:data:`RESTARTS` under :func:`best_of_restarts`)
            whose runs all stop once one of them reached ``target_rate``; ``None``: this run.

    Returns:
        ``(best_v f32[*shape], best_rate f32)`` over ``v0`` and every update.
    """
    n = x.shape[0]
    batches = -(-n // batch_size)
    valid = (jnp.arange(batches * batch_size) < n).reshape(batches, batch_size)

    def short_of_target(best_rate):
        top = best_rate if across is None else jax.lax.pmax(best_rate, across)
        return top < target_rate

    def one_pass(state):
        p, v, best_v, best_rate, key = state
        key, k_order = jax.random.split(key)
        order = jnp.concatenate([jax.random.permutation(k_order, n),
                                 jnp.zeros((batches * batch_size - n,), jnp.int32)])
        order = order.reshape(batches, batch_size)
        if start_pass is not None:
            v = start_pass(p, v, best_v)

        def mini_batch(carry):
            i, v, best_v, best_rate = carry
            v = update(p, v, order[i], valid[i])
            r = fooled_share(logits_fn, x, labels, v)
            better = r > best_rate
            return i + 1, v, jnp.where(better, v, best_v), jnp.maximum(r, best_rate)

        def going(carry):
            return (carry[0] < batches) & short_of_target(carry[3])

        _, v, best_v, best_rate = jax.lax.while_loop(
            going, mini_batch, (jnp.int32(0), v, best_v, best_rate))
        return p + 1, v, best_v, best_rate, key

    def passes_left(state):
        p, _, _, best_rate, _ = state
        return (p < max_passes) & short_of_target(best_rate)

    state = (jnp.int32(0), v0, v0, fooled_share(logits_fn, x, labels, v0), key)
    _, _, best_v, best_rate, _ = jax.lax.while_loop(passes_left, one_pass, state)
    return best_v, best_rate


def best_of_restarts(run: Callable[[jax.Array], tuple[jax.Array, jax.Array]], key,
                     restarts: int) -> jax.Array:
    """``run(key) -> (v, rate)`` for ``restarts`` splits of ``key`` in parallel; the best ``v``.

    ``run`` is vmapped over the axis :data:`RESTARTS`, so a ``best_over_passes(...,
    across=RESTARTS)`` inside it stops every restart once one reached its target.
    """
    vs, rates = jax.vmap(run, axis_name=RESTARTS)(jax.random.split(key, restarts))
    return vs[jnp.argmax(rates)]
