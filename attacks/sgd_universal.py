"""Universal perturbations by stochastic gradient ascent (Shafahi et al. 2020 style).

Maximises the mean clipped attack loss ``E_x[min(loss(f(x + v), y), clip)]`` over
``v`` in B_eps with mini-batch steepest-ascent steps (``g/|g|_2`` for l2, ``sign g`` for
linf) and projection onto B_eps. The clip stops points that are already fooled from
dominating the gradient: with the margin loss ``max_{j!=y} z_j - z_y`` and ``clip=0`` a
fooled point contributes nothing (the default ``clip=inf`` disables the cap). Passes over
the data in random orders; after every step the fooling rate on all of ``x`` is measured
and the best ``v`` seen is returned. Restarts begin at random points of B_eps.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> from attacks.fooling import fooling_rate
    >>> def bands(x):  # horizontal bands of height 1
    ...     return jnp.stack([jnp.zeros(x.shape[0]), jnp.sin(jnp.pi * x[:, 1])], axis=1)
    >>> x = jnp.stack([jnp.linspace(-2, 2, 64), jnp.tile(jnp.array([0.9, 1.9]), 32)], 1)
    >>> v = sgd_universal(bands, x, norm="inf", eps=0.2, key=jax.random.key(0))
    >>> v.shape, float(fooling_rate(bands, x, v))
    ((2,), 1.0)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.fooling import (as_batch, as_labels, as_logits_fn, as_point, attack_loss, check_loss,
                             reference_labels)
from attacks.norms import parse_norm, project, sample_ball, steepest_direction
from attacks.passes import RESTARTS, best_of_restarts, best_over_passes


def _step(logits_fn, v, x, labels, weight, eps, step_size, clip, *, norm, loss):
    """Traceable ascent step on the weighted mean clipped loss of a mini-batch."""
    def objective(v):
        per_example = jnp.minimum(attack_loss(loss, logits_fn(x + v), labels), clip)
        return jnp.sum(weight * per_example) / jnp.maximum(jnp.sum(weight), 1.0)

    g = jax.grad(objective)(v)
    return project((v + step_size * steepest_direction(g[None], norm)[0])[None], norm, eps)[0]


@functools.partial(jax.jit, static_argnames=("norm", "loss"))
def _sgd_universal_step(logits_fn, v, x, labels, eps, step_size, clip, *, norm, loss):
    labels = reference_labels(logits_fn, x, labels)
    weight = jnp.ones((x.shape[0],), x.dtype)
    return _step(logits_fn, v, x, labels, weight, eps, step_size, clip, norm=norm, loss=loss)


def sgd_universal_step(logits_fn, v, x, labels=None, *, norm, eps, step_size, loss="margin",
                       clip=float("inf")) -> jax.Array:
    """One mini-batch ascent step, for runners that stream data and checkpoint.

    Args:
        logits_fn: classifier ``f32[b, *shape] -> f32[b, classes]`` (Partial or callable).
        v: ``f32[*shape]``, the current universal perturbation.
        x: ``f32[b, *shape]``, the mini-batch.
        labels: ``i32[b]`` labels to change; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        eps: radius, traced.
        step_size: length of the step (in the norm), traced.
        loss: ``"margin"`` or ``"ce"``, static.
        clip: each example's loss is capped at ``clip`` (traced; ``inf`` for no cap).

    Returns:
        ``f32[*shape]``, the new ``v`` with ``|v|_p <= eps``.
    """
    x = as_batch(x)
    v = as_point(v, x)
    return _sgd_universal_step(as_logits_fn(logits_fn), v, x, as_labels(labels, x.shape[0]),
                               jnp.asarray(eps, x.dtype), jnp.asarray(step_size, x.dtype),
                               jnp.asarray(clip, x.dtype), norm=parse_norm(norm),
                               loss=check_loss(loss))


@functools.partial(jax.jit, static_argnames=("norm", "loss", "batch_size", "restarts"))
def _sgd_universal(logits_fn, x, labels, eps, key, step_size, clip, target_rate, max_passes, *,
                   norm, loss, batch_size, restarts):
    labels = reference_labels(logits_fn, x, labels)
    step = eps * 0.5 if step_size is None else step_size

    def update(p, v, idx, ok):
        return _step(logits_fn, v, x[idx], labels[idx], ok.astype(x.dtype), eps, step, clip,
                     norm=norm, loss=loss)

    def run(key):
        key, k_start = jax.random.split(key)
        v0 = sample_ball(k_start, (1,) + x.shape[1:], norm, eps)[0].astype(x.dtype)
        return best_over_passes(logits_fn, x, labels, v0, key, update, batch_size=batch_size,
                                max_passes=max_passes, target_rate=target_rate, across=RESTARTS)

    return best_of_restarts(run, key, restarts)


def sgd_universal(logits_fn, x, labels=None, *, norm, eps, key, batch_size: int = 32,
                  max_passes: int = 10, step_size=None, loss: str = "margin", clip=float("inf"),
                  target_rate=1.0, restarts: int = 4) -> jax.Array:
    """One perturbation in B_eps that fools many points of ``x``, by stochastic ascent.

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]`` (Partial or callable).
        x: ``f32[n, *shape]``, the data.
        labels: ``i32[n]`` labels to change; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        eps: radius, traced.
        key: ``jax.random.key`` for the starts and the orders of the passes.
        batch_size: points per step (the last mini-batch is padded with zero weight), static.
        max_passes: most passes over the data; traced (it only bounds a while loop, so a new
            value does not recompile).
        step_size: traced; ``None`` means ``eps / 2`` (large steps explore; the best ``v``
            seen is kept, so they do not cost accuracy).
        loss, clip: the clipped loss, as in :func:`sgd_universal_step`. On the 2D test
            tasks the uncapped margin (the default) did as well as any cap tried.
        target_rate: stop after the update at which the fooling rate (of any
            restart) reached it, traced.
        restarts: independent runs from random starts in B_eps (in parallel), static. The
            ascent gets stuck in local optima; 4 starts lift the mean ratio to the exact 2D
            optimum from about 0.96 to 0.99.

    Returns:
        ``f32[*shape]`` (``x.shape[1:]``): the best ``v`` seen, ``|v|_p <= eps``.
    """
    if batch_size < 1 or max_passes < 1 or restarts < 1:
        raise ValueError(f"batch_size, max_passes and restarts must be at least 1, got "
                         f"{batch_size}, {max_passes} and {restarts}")
    x = as_batch(x)
    step_size = None if step_size is None else jnp.asarray(step_size, x.dtype)
    return _sgd_universal(as_logits_fn(logits_fn), x, as_labels(labels, x.shape[0]),
                          jnp.asarray(eps, x.dtype), key, step_size, jnp.asarray(clip, x.dtype),
                          jnp.asarray(target_rate, jnp.float32), jnp.asarray(max_passes, jnp.int32),
                          norm=parse_norm(norm), loss=check_loss(loss), batch_size=int(batch_size),
                          restarts=int(restarts))
