"""Projected gradient descent (Madry et al. 2018) with random restarts, l2 or linf.

Each restart starts uniformly in B_eps, takes ``steps`` steepest-ascent steps of the attack
loss (``g/|g|_2`` for l2, ``sign g`` for linf), projecting back onto B_eps after each one.
Every iterate (and the clean point) is scored, and per example the best one is kept: one
that fools if any (the first found), otherwise the one of highest margin
``max_{j!=y} z_j - z_y`` (how close to fooling it is, whatever loss the ascent follows).
Restarts run one after another (``lax.scan``), so memory does not grow with ``restarts``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> from attacks.norms import lp_norm
    >>> def linear(w, x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x @ w], axis=1)
    >>> f = Partial(linear, jnp.array([1.0, 0.0]))
    >>> x = jnp.array([[0.1, 0.0], [0.2, 0.0]])
    >>> delta = pgd(f, x, None, norm=2, eps=0.5, key=jax.random.key(0), steps=10)
    >>> bool(jnp.all((x + delta)[:, 0] < 0)), bool(jnp.all(lp_norm(delta, 2) <= 0.5 + 1e-6))
    (True, True)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.fooling import (as_batch, as_labels, as_logits_fn, attack_loss, check_loss,
                             margin_loss, reference_labels)
from attacks.norms import parse_norm, project, sample_ball, steepest_direction


def _better(fooled, margin, best_fooled, best_margin):
    """``bool[n]``: the new candidate beats the best so far (fooling first, then margin)."""
    return (fooled & ~best_fooled) | (~fooled & ~best_fooled & (margin > best_margin))


def _keep(mask, new, old):
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


@functools.partial(jax.jit, static_argnames=("norm", "steps", "restarts", "loss"))
def _pgd(logits_fn, x, labels, eps, key, step_size, *, norm, steps, restarts, loss):
    labels = reference_labels(logits_fn, x, labels)
    step = eps * (2.5 / steps) if step_size is None else step_size

    def score(delta):
        """Per-example margin, fooled flag and ascent-loss gradient at ``x + delta``."""
        def total(d):
            logits = logits_fn(x + d)
            return jnp.sum(attack_loss(loss, logits, labels)), logits
        (_, logits), g = jax.value_and_grad(total, has_aux=True)(delta)
        fooled = jnp.argmax(logits, axis=1).astype(jnp.int32) != labels
        return margin_loss(logits, labels), fooled, g

    def consider(best, delta, margin, fooled):
        best_delta, best_fooled, best_margin = best
        take = _better(fooled, margin, best_fooled, best_margin)
        return (_keep(take, delta, best_delta), best_fooled | fooled,
                jnp.where(take, margin, best_margin))

    def restart(best, k):
        def ascend(_, carry):
            delta, best = carry
            margin, fooled, g = score(delta)
            best = consider(best, delta, margin, fooled)
            delta = project(delta + step * steepest_direction(g, norm), norm, eps)
            return delta, best

        delta0 = sample_ball(k, x.shape, norm, eps).astype(x.dtype)
        delta, best = jax.lax.fori_loop(0, steps, ascend, (delta0, best))
        margin, fooled, _ = score(delta)
        return consider(best, delta, margin, fooled), None

    # The clean point is the first candidate, so the result is never worse than no attack.
    clean = logits_fn(x)
    fooled0 = jnp.argmax(clean, axis=1).astype(jnp.int32) != labels
    init = (jnp.zeros_like(x), fooled0, margin_loss(clean, labels))
    (best_delta, _, _), _ = jax.lax.scan(restart, init, jax.random.split(key, restarts))
    return best_delta


def pgd(logits_fn, x, labels=None, *, norm, eps, key, steps: int = 20, restarts: int = 1,
        step_size=None, loss: str = "ce") -> jax.Array:
    """Per-example attack inside B_eps: PGD with random starts, keeping the best iterate.

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]`` (Partial or callable).
        x: ``f32[n, *shape]``.
        labels: ``i32[n]`` labels to move away from; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        eps: radius, traced.
        key: ``jax.random.key`` for the random starts.
        steps: ascent steps per restart, static.
        restarts: independent random starts, static; per example the best is kept.
        step_size: traced; ``None`` means ``2.5 * eps / steps``.
        loss: ``"ce"`` (cross-entropy, default) or ``"margin"`` (``max_{j!=y} z_j - z_y``).
            On multi-class linear models the margin's kinks trap PGD more often than the
            smoother cross-entropy (measured: l2, 100 points, 4 classes, eps=0.3: CE
            reaches the exact pointwise rate 0.29, margin 0.27).

    Returns:
        ``f32[n, *shape]`` with ``|delta|_p <= eps``.
    """
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be at least 1, got {steps} and {restarts}")
    x = as_batch(x)
    step_size = None if step_size is None else jnp.asarray(step_size, x.dtype)
    return _pgd(as_logits_fn(logits_fn), x, as_labels(labels, x.shape[0]),
                jnp.asarray(eps, x.dtype), key, step_size, norm=parse_norm(norm),
                steps=int(steps), restarts=int(restarts), loss=check_loss(loss))
