"""What it means to fool a classifier: predicted labels, attack losses, the fooling rate.

A classifier is ``logits_fn(x) -> logits`` with ``x: f32[n, *shape]`` and
``logits: f32[n, classes]``. Attacks take it as a pytree, a ``jax.tree_util.Partial``
whose arrays (the parameters) are leaves, so new parameters do not recompile;
:func:`as_logits_fn` wraps a plain callable.

Example:
    >>> import jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> def linear(w, x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x @ w], axis=1)
    >>> f = Partial(linear, jnp.array([1.0, 0.0]))
    >>> x = jnp.array([[-0.5, 0.0], [-2.0, 0.0]])
    >>> float(fooling_rate(f, x, jnp.array([1.0, 0.0])))
    0.5
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

LOSSES = ("margin", "ce")


def as_logits_fn(logits_fn: Callable) -> Partial:
    """Returns ``logits_fn`` as a ``jax.tree_util.Partial`` (unchanged if it is one).

    A plain function becomes a Partial without arguments; jitted code then keys its cache
    on the function's identity, so pass the same function object to avoid recompiling.
    """
    if isinstance(logits_fn, Partial):
        return logits_fn
    if not callable(logits_fn):
        raise TypeError(f"logits_fn must be callable, got {type(logits_fn).__name__}")
    return Partial(logits_fn)


def as_batch(x) -> jax.Array:
    """``x`` as a floating JAX array with a leading batch axis (ints become f32)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    if x.ndim < 1:
        raise ValueError(f"x must have a leading batch axis, got shape {x.shape}")
    return x


def as_labels(labels, n: int):
    """``labels`` as ``i32[n]`` (``None`` stays ``None``); raises on a wrong shape."""
    if labels is None:
        return None
    labels = jnp.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match x, got {labels.shape}")
    return labels.astype(jnp.int32)


def as_point(v, x: jax.Array) -> jax.Array:
    """``v`` as one point of ``x`` (its dtype, its shape without the batch axis).

    A universal perturbation is added to every row, so a wrong shape would broadcast
    silently; this raises instead.

    Args:
      v: the perturbation.
      x: the batch it is added to.

    Returns:
      ``v`` as an array of ``x.dtype``.
    """
    v = jnp.asarray(v, x.dtype)
    if v.shape != x.shape[1:]:
        raise ValueError(f"v must have shape {x.shape[1:]} (one point), got {v.shape}")
    return v


def as_mask(mask, n: int) -> jax.Array:
    """``mask`` as ``bool[n]``, one flag per row (``None``: every row is used)."""
    valid = jnp.ones((n,), jnp.bool_) if mask is None else jnp.asarray(mask, jnp.bool_)
    if valid.shape != (n,):
        raise ValueError(f"mask must have shape ({n},) (one flag per row), got {valid.shape}")
    return valid


def check_loss(loss: str) -> str:
    """Raises ValueError unless ``loss`` is one of :data:`LOSSES`."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: use one of {', '.join(LOSSES)}")
    return loss


def predict(logits_fn: Callable, x: jax.Array) -> jax.Array:
    """``f(x) = argmax logits_fn(x)``: ``f32[n, *shape] -> i32[n]``."""
    return jnp.argmax(logits_fn(x), axis=-1).astype(jnp.int32)


def margin_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """``max_{j != y} z_j - z_y`` per example (positive iff fooled): ``f32[n]``."""
    true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    others = jnp.where(jax.nn.one_hot(labels, logits.shape[1], dtype=jnp.bool_),
                       -jnp.inf, logits)
    return jnp.max(others, axis=1) - true


def ce_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy ``-log softmax(z)_y`` per example: ``f32[n]``."""
    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0]


_CE_MAX_GAP = 50.0


def attack_loss(loss: str, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The per-example loss an attack ascends, ``f32[n]``.

    ``"margin"`` is :func:`margin_loss`. ``"ce"`` is :func:`ce_loss`, except that an
    example whose logit of ``labels`` leads by more than 50 has its logits divided by
    ``lead / 50`` (a constant for the gradient): otherwise ``softmax`` rounds to one-hot in
    float32 and the gradient underflows to exactly zero, leaving FGSM/PGD with no direction.
    """
    if loss == "margin":
        return margin_loss(logits, labels)
    lead = -margin_loss(logits, labels)
    temperature = jax.lax.stop_gradient(jnp.maximum(1.0, lead / _CE_MAX_GAP))
    return ce_loss(logits / temperature[:, None].astype(logits.dtype), labels)


@jax.jit
def _fooling_rate(logits_fn, x, delta, labels):
    ref = reference_labels(logits_fn, x, labels)
    return jnp.mean((predict(logits_fn, x + delta) != ref).astype(jnp.float32))


def fooling_rate(logits_fn: Callable, x, delta, labels=None) -> jax.Array:
    """Share of ``x`` whose predicted label changes under ``x + delta``.

    Args:
        logits_fn: classifier, ``f32[n, *shape] -> f32[n, classes]``.
        x: ``f32[n, *shape]``.
        delta: ``f32[n, *shape]`` (per example) or ``f32[*shape]`` (one shared delta).
        labels: ``i32[n]`` reference labels; ``None`` compares with ``f(x)``.

    Returns:
        ``f32[]`` in ``[0, 1]``.
    """
    x = as_batch(x)
    delta = jnp.asarray(delta, x.dtype)
    if delta.shape not in (x.shape, x.shape[1:]):
        raise ValueError(f"delta must have shape {x.shape} or {x.shape[1:]}, got {delta.shape}")
    return _fooling_rate(as_logits_fn(logits_fn), x, delta, as_labels(labels, x.shape[0]))


def reference_labels(logits_fn: Callable, x: jax.Array, labels) -> jax.Array:
    """``labels`` if given, else ``f(x)``: the labels an attack tries to change, ``i32[n]``."""
    return predict(logits_fn, x) if labels is None else labels
