"""Random perturbations: uniform on the sphere S_eps, one per example (category 4).

``random(eps) = P[f(x + delta) != f(x)]`` for ``delta ~ Unif(S_eps)`` is estimated by the
fooling rate of these perturbations.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from attacks.norms import lp_norm
    >>> delta = random_perturbation(None, jnp.zeros((3, 8, 8, 3)), None, norm=2, eps=0.5,
    ...                             key=jax.random.key(0))
    >>> [round(float(v), 4) for v in lp_norm(delta, 2)]
    [0.5, 0.5, 0.5]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attacks.fooling import as_batch
from attacks.norms import parse_norm, sample_sphere


@functools.partial(jax.jit, static_argnames=("norm",))
def _random_perturbation(x, eps, key, *, norm):
    return sample_sphere(key, x.shape, norm, eps).astype(x.dtype)


def random_perturbation(logits_fn, x, labels=None, *, norm, eps, key) -> jax.Array:
    """A uniform sample of S_eps for each example.

    Args:
        logits_fn: unused (the perturbation does not look at the classifier); accepted so
            every attack has one signature.
        x: ``f32[n, *shape]`` (only its shape and dtype are used).
        labels: unused, as ``logits_fn``.
        norm: 2 or inf, static.
        eps: radius, traced.
        key: ``jax.random.key``.

    Returns:
        ``f32[n, *shape]`` with ``|delta|_p = eps`` per row.
    """
    del logits_fn, labels
    x = as_batch(x)
    return _random_perturbation(x, jnp.asarray(eps, jnp.float32), key, norm=parse_norm(norm))
