"""Fast gradient (sign) method: one steepest-ascent step of size eps on the attack loss.

linf: ``delta = eps * sign(grad)`` (Goodfellow et al. 2015); l2: ``delta = eps * grad/|grad|_2``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> def linear(w, x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x @ w], axis=1)
    >>> f = Partial(linear, jnp.array([1.0, 1.0]))
    >>> x = jnp.array([[0.3, 0.3], [1.0, 2.0]])
    >>> delta = fgsm(f, x, None, norm="inf", eps=0.5)
    >>> delta.tolist()
    [[-0.5, -0.5], [-0.5, -0.5]]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.fooling import (as_batch, as_labels, as_logits_fn, attack_loss, check_loss,
                             reference_labels)
from attacks.norms import parse_norm, steepest_direction


def loss_gradient(logits_fn, x, labels, loss: str) -> jax.Array:
    """Gradient of the per-example attack loss at ``x``: ``f32[n, *shape]``."""
    def total(z):
        return jnp.sum(attack_loss(loss, logits_fn(z), labels))
    return jax.grad(total)(x)


@functools.partial(jax.jit, static_argnames=("norm", "loss"))
def _fgsm(logits_fn, x, labels, eps, *, norm, loss):
    labels = reference_labels(logits_fn, x, labels)
    g = loss_gradient(logits_fn, x, labels, loss)
    return eps * steepest_direction(g, norm)


def fgsm(logits_fn, x, labels=None, *, norm, eps, key=None, loss: str = "ce") -> jax.Array:
    """One-step attack on the boundary of B_eps.

    Args:
        logits_fn: classifier ``f32[n, *shape] -> f32[n, classes]`` (Partial or callable).
        x: ``f32[n, *shape]``.
        labels: ``i32[n]`` labels to move away from; ``None`` uses ``f(x)``.
        norm: 2 or inf (see :func:`attacks.norms.parse_norm`), static.
        eps: radius, traced (a new value does not recompile).
        key: unused (FGSM is deterministic); accepted so every attack has one signature.
        loss: ``"ce"`` (cross-entropy, the classic choice) or ``"margin"``.

    Returns:
        ``f32[n, *shape]`` with ``|delta|_p = eps`` (``0`` where the gradient vanishes).
    """
    del key
    x = as_batch(x)
    return _fgsm(as_logits_fn(logits_fn), x, as_labels(labels, x.shape[0]),
                 jnp.asarray(eps, x.dtype), norm=parse_norm(norm), loss=check_loss(loss))
