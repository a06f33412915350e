"""The rules every front end (the command lines and the app) applies to eps, the seed and
a user's 2D classifier.

Example:
    >>> check_eps("0.15"), check_seed("7")
    (0.15, 7)
    >>> check_eps(0.5, maximum=0.4)
    Traceback (most recent call last):
    ValueError: eps must be at most 0.4, got 0.5
    >>> import jax.numpy as jnp
    >>> f = check_classifier(lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1), num_classes=2)
    >>> check_classifier(lambda x: x[:, :1], num_classes=2)
    Traceback (most recent call last):
    ValueError: the model gives 1 logit per point, but the data has 2 classes: its logits_fn must map f32[n, 2] to f32[n, classes] with classes >= 2
"""

from __future__ import annotations

import jax
import numpy as np

SEED_MAX = 2 ** 31 - 1   # seeds are whole numbers from 0 to this


def check_eps(eps, *, maximum: float | None = None) -> float:
    """Returns ``eps`` as a positive finite float (at most ``maximum`` if given), else
    raises ValueError (one line)."""
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a positive number, got {eps!r}") from None
    if not (np.isfinite(e) and e > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    if maximum is not None and e > maximum:
        raise ValueError(f"eps must be at most {maximum:g}, got {eps!r}")
    return e


def check_seed(seed) -> int:
    """Returns ``seed`` as an int from 0 to :data:`SEED_MAX`, else raises ValueError."""
    try:
        s = int(seed)
    except (TypeError, ValueError):
        s = None
    if s is None or not 0 <= s <= SEED_MAX or (isinstance(seed, float) and seed != s):
        raise ValueError(f"the seed must be a whole number from 0 to {SEED_MAX}, got {seed!r}")
    return s


def check_classifier(logits_fn, *, num_classes: int, name: str = "the model"):
    """A user's 2D classifier, checked on two points of the plane and made a pytree.

    Args:
      logits_fn: what the user's ``build()`` returned: any callable mapping ``f32[n, 2]``
        to ``f32[n, classes]`` (a function, a ``Partial``, a Flax NNX module).
      num_classes: the data's classes; the model must give at least as many logits.
      name: how messages call it (e.g. ``"mymodel:build()"``).

    Returns:
      ``logits_fn`` as a ``jax.tree_util.Partial`` (unchanged if it is one).

    Raises:
      ValueError: one line: not callable, raised on two points, a wrong shape or
        dtype, non-finite logits, or fewer classes than the data.
    """
    if not callable(logits_fn):
        raise ValueError(f"{name} returned {type(logits_fn).__name__}, not a logits_fn "
                         "(a function of f32[n, 2] points returning f32[n, classes] logits)")
    probe = jax.numpy.asarray([[0.0, 0.0], [0.5, -0.5]], jax.numpy.float32)
    try:
        z = np.asarray(logits_fn(probe))
    except Exception as err:  # noqa: BLE001 - the user's function may raise anything
        text = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise ValueError(f"{name} failed on two points of the plane, f32[2, 2]: {text}") from None
    if z.ndim != 2 or z.shape[0] != 2 or not np.issubdtype(z.dtype, np.floating):
        raise ValueError(f"{name} must map f32[n, 2] to f32[n, classes]; on f32[2, 2] it "
                         f"returned {z.dtype}{list(z.shape)}")
    if z.shape[1] < num_classes:
        raise ValueError(f"the model gives {z.shape[1]} logit{'s' * (z.shape[1] != 1)} per "
                         f"point, but the data has {num_classes} classes: its logits_fn must "
                         f"map f32[n, 2] to f32[n, classes] with classes >= {num_classes}")
    if not np.isfinite(z).all():
        raise ValueError(f"{name} returned non-finite logits on two points of the plane")
    if isinstance(logits_fn, jax.tree_util.Partial):
        return logits_fn
    return jax.tree_util.Partial(logits_fn)
