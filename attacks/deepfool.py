"""DeepFool (Moosavi-Dezfooli et al. 2016): the minimal perturbation that changes the label.

Multi-class, lp version. The candidate classes are the label ``y`` and the ``top_k - 1``
other classes of highest clean logit. Each iteration linearises the classifier at the
current point ``x + (1 + overshoot) r``: with ``f_j = z_j - z_y`` and ``w_j = grad f_j``, the
nearest linearised boundary is ``l = argmin_j |f_j| / |w_j|_q`` (q the dual norm: 2 for
l2, 1 for linf) and the step is ``(|f_l|/|w_l|_q + 1e-4) * u``, with ``u = w_l/|w_l|_2``
for l2 and ``u = sign(w_l)`` for linf. Steps stop per example once it is fooled, the loop
(``lax.while_loop``) when all are fooled or after ``max_iter`` steps.

Example:
    >>> import jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> from attacks.norms import lp_norm
    >>> def linear(w, x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x @ w + 1.0], axis=1)
    >>> f = Partial(linear, jnp.array([3.0, 4.0]))
    >>> delta = deepfool(f, jnp.zeros((1, 2)), norm=2, overshoot=0.0)
    >>> round(float(lp_norm(delta, 2)[0]), 3)  # |w.x + b| / |w|_2 = 1/5
    0.2
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.fooling import as_batch, as_labels, as_logits_fn, reference_labels
from attacks.norms import dual_norm, parse_norm, steepest_direction

_STEP_SLACK = 1e-4  # added to each step's length, as in the reference implementation


def candidate_classes(logits: jax.Array, labels: jax.Array, top_k: int) -> jax.Array:
    """The label followed by the ``top_k - 1`` other classes of highest logit: ``i32[n, k]``.

    ``k = min(top_k, classes)``.
    """
    k = min(top_k, logits.shape[1])
    others = jnp.where(jax.nn.one_hot(labels, logits.shape[1], dtype=jnp.bool_),
                       -jnp.inf, logits)
    _, top = jax.lax.top_k(others, k - 1)
    return jnp.concatenate([labels[:, None], top.astype(jnp.int32)], axis=1)


def deepfool_steps(logits_fn, x, labels, overshoot, *, norm: str, top_k: int,
                   max_iter: int, logits: jax.Array | None = None) -> jax.Array:
    """Traceable DeepFool core (call it inside jit): returns ``(1 + overshoot) * r``.

    Args:
        logits_fn: classifier.
        x: ``f32[n, *shape]``, the points attacked.
        labels: ``i32[n]``, the labels to change (need not be ``f(x)``).
        overshoot: traced scalar.
        norm: ``"2"`` or ``"inf"``.
        top_k: candidate classes (including the label), at least 2.
        max_iter: most linearisation steps.
        logits: ``f32[n, classes]``, ``logits_fn(x)`` if the caller has it already (saves a
            forward pass).

    Returns:
        ``f32[n, *shape]``; zero for examples already misclassified w.r.t. ``labels``.
    """
    n = x.shape[0]
    clean = logits_fn(x) if logits is None else logits
    cand = candidate_classes(clean, labels, top_k)
    k = cand.shape[1]
    # Cotangents e_j - e_0: one backward pass per candidate gives grad (z_j - z_y).
    eye = jnp.eye(k, dtype=clean.dtype)
    cotangents = jnp.broadcast_to((eye[1:] - eye[:1])[:, None, :], (k - 1, n, k))
    scale = (1.0 + overshoot).astype(x.dtype)

    def selected(z):
        logits = logits_fn(z)
        return jnp.take_along_axis(logits, cand, axis=1), logits

    def cond(state):
        i, _, active = state
        return (i < max_iter) & jnp.any(active)

    def body(state):
        i, r, active = state
        zsel, vjp, logits = jax.vjp(selected, x + scale * r, has_aux=True)
        active = active & (jnp.argmax(logits, axis=1).astype(jnp.int32) == labels)
        (w,) = jax.vmap(vjp)(cotangents)                      # [k-1, n, *shape]
        f = (zsel[:, 1:] - zsel[:, :1]).T                     # [k-1, n]
        w_norm = dual_norm(w.reshape((k - 1) * n, *x.shape[1:]), norm).reshape(k - 1, n)
        dist = jnp.abs(f) / jnp.maximum(w_norm, 1e-12)
        nearest = jnp.argmin(dist, axis=0)                    # [n]
        w_l = w[nearest, jnp.arange(n)]                       # [n, *shape]
        length = jnp.where(active, dist[nearest, jnp.arange(n)] + _STEP_SLACK, 0.0)
        length = jnp.where(jnp.isfinite(length), length, 0.0).astype(x.dtype)
        step = length.reshape((n,) + (1,) * (x.ndim - 1)) * steepest_direction(w_l, norm)
        return i + 1, r + step, active

    active = jnp.argmax(clean, axis=1).astype(jnp.int32) == labels
    _, r, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), jnp.zeros_like(x), active))
    return scale * r


@functools.partial(jax.jit, static_argnames=("norm", "top_k", "max_iter"))
def _deepfool(logits_fn, x, labels, overshoot, *, norm, top_k, max_iter):
    labels = reference_labels(logits_fn, x, labels)
    return deepfool_steps(logits_fn, x, labels, overshoot, norm=norm, top_k=top_k,
                          max_iter=max_iter)


def check_deepfool_args(top_k: int, max_iter: int) -> None:
    """Raises ValueError for ``top_k < 2`` or ``max_iter < 1``."""
    if top_k < 2:
        raise ValueError(f"top_k must be at least 2 (the label and one other class), got {top_k}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")


def deepfool(logits_fn, x, labels=None, *, norm="2", top_k: int = 10, overshoot=0.02,
             max_iter: int = 50) -> jax.Array:
    """Minimal perturbation that changes each example's label (not bounded by any eps).

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]`` (Partial or callable).
        x: ``f32[n, *shape]``.
        labels: ``i32[n]`` labels to change; ``None`` uses ``f(x)``.
        norm: 2 or inf, static.
        top_k: candidate classes including the label (clipped to the number of classes),
            static.
        overshoot: traced; the result is ``(1 + overshoot) * r``.
        max_iter: most linearisation steps, static.

    Returns:
        ``f32[n, *shape]``, the total perturbation ``(1 + overshoot) * r``; its norm estimates
        the distance to the nearest decision boundary.
    """
    check_deepfool_args(top_k, max_iter)
    x = as_batch(x)
    return _deepfool(as_logits_fn(logits_fn), x, as_labels(labels, x.shape[0]),
                     jnp.asarray(overshoot, x.dtype), norm=parse_norm(norm), top_k=int(top_k),
                     max_iter=int(max_iter))
