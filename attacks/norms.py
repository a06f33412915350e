"""The l2 and linf geometry every attack shares: norms, projection onto B_eps, sampling.

A norm is named ``"2"`` or ``"inf"`` after :func:`parse_norm`. All functions are batched
over the leading axis: ``delta: f32[n, *shape]`` holds one perturbation per row and norms
are taken over all the other axes, so the same code serves 2D points and images.

Example:
    >>> import jax, jax.numpy as jnp
    >>> d = sample_sphere(jax.random.key(0), (4, 8, 8, 3), "linf", 0.1)
    >>> [round(float(v), 4) for v in lp_norm(d, "inf")]
    [0.1, 0.1, 0.1, 0.1]
    >>> lp_norm(project(3.0 * d, "inf", 0.1), "inf").shape
    (4,)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

_TINY = 1e-12

_NORM_NAMES = {
    "2": "2", "l2": "2", "2.0": "2",
    "inf": "inf", "linf": "inf", "l_inf": "inf", "infinity": "inf",
}


def parse_norm(norm) -> str:
    """Normalises a norm name to ``"2"`` or ``"inf"``.

    Args:
        norm: ``2``, ``2.0``, ``"2"``, ``"l2"``, ``"inf"``, ``"linf"`` or ``float("inf")``
            (strings are case-insensitive).

    Returns:
        ``"2"`` or ``"inf"``.

    Raises:
        ValueError: naming the bad value, for any other norm.
    """
    if isinstance(norm, bool):
        raise ValueError(f"unknown norm {norm!r}: use 2 ('l2') or inf ('linf')")
    if isinstance(norm, (int, float)):
        if norm == 2:
            return "2"
        if math.isinf(norm) and norm > 0:
            return "inf"
    elif isinstance(norm, str) and norm.strip().lower() in _NORM_NAMES:
        return _NORM_NAMES[norm.strip().lower()]
    raise ValueError(f"unknown norm {norm!r}: use 2 ('l2') or inf ('linf')")


def _rows(delta: jax.Array) -> jax.Array:
    """``f32[n, *shape] -> f32[n, prod(shape)]``."""
    return delta.reshape(delta.shape[0], -1)


def _per_row(values: jax.Array, ndim: int) -> jax.Array:
    """Reshapes ``f32[n]`` (or a scalar) to broadcast against an array of rank ``ndim``."""
    values = jnp.asarray(values)
    if values.ndim == 0:
        return values
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


@functools.partial(jax.jit, static_argnames=("norm",))
def lp_norm(delta: jax.Array, norm) -> jax.Array:
    """The l2 or linf norm of each row.

    Args:
        delta: ``f32[n, *shape]``.
        norm: see :func:`parse_norm`.

    Returns:
        ``f32[n]``: the norm over all non-leading axes.
    """
    flat = _rows(delta)
    if parse_norm(norm) == "2":
        return jnp.sqrt(jnp.sum(flat * flat, axis=1))
    return jnp.max(jnp.abs(flat), axis=1)


@functools.partial(jax.jit, static_argnames=("norm",))
def dual_norm(g: jax.Array, norm) -> jax.Array:
    """The dual norm of each row (l2 for l2, l1 for linf): ``f32[n, *shape] -> f32[n]``."""
    flat = _rows(g)
    if parse_norm(norm) == "2":
        return jnp.sqrt(jnp.sum(flat * flat, axis=1))
    return jnp.sum(jnp.abs(flat), axis=1)


@functools.partial(jax.jit, static_argnames=("norm",))
def steepest_direction(g: jax.Array, norm) -> jax.Array:
    """The unit-norm direction ``u`` maximising ``<g, u>`` per row (``g/|g|_2`` or ``sign g``).

    Args:
        g: ``f32[n, *shape]``, e.g. a gradient.
        norm: see :func:`parse_norm`.

    Returns:
        ``f32[n, *shape]``; rows with ``g = 0`` give ``0``.
    """
    if parse_norm(norm) == "2":
        # Divide by the largest entry first so that tiny gradients (1e-20) do not underflow.
        peak = jnp.max(jnp.abs(_rows(g)), axis=1)
        g = g / _per_row(jnp.where(peak > 0, peak, 1.0).astype(g.dtype), g.ndim)
        scale = jnp.sqrt(jnp.sum(_rows(g) ** 2, axis=1))
        return g / _per_row(jnp.where(scale > 0, scale, 1.0).astype(g.dtype), g.ndim)
    return jnp.sign(g)


@functools.partial(jax.jit, static_argnames=("norm",))
def project(delta: jax.Array, norm, eps) -> jax.Array:
    """Exact Euclidean-nearest point of B_eps for each row.

    Args:
        delta: ``f32[n, *shape]``.
        norm: see :func:`parse_norm`. l2 rescales rows longer than ``eps``; linf clips.
        eps: radius, a scalar or ``f32[n]`` (one radius per row).

    Returns:
        ``f32[n, *shape]`` with ``lp_norm(result) <= eps``.
    """
    eps = _per_row(jnp.asarray(eps, delta.dtype), delta.ndim)
    if parse_norm(norm) == "2":
        length = _per_row(lp_norm(delta, "2"), delta.ndim)
        return delta * jnp.minimum(1.0, eps / jnp.maximum(length, _TINY)).astype(delta.dtype)
    return jnp.clip(delta, -eps, eps)


def sample_sphere(key: jax.Array, shape, norm, eps) -> jax.Array:
    """Uniform samples on the sphere S_eps, one per leading-axis row.

    l2: normalised Gaussians. linf: uniform on the surface of the cube: a face is drawn
    uniformly (a coordinate and a sign), that coordinate is set to ``+-eps`` and the others
    are uniform in ``[-eps, eps]`` (all faces have the same area, so this is uniform).

    Args:
        key: a ``jax.random.key``.
        shape: ``(n, *point_shape)``.
        norm: see :func:`parse_norm`.
        eps: radius (scalar, may be traced).

    Returns:
        ``f32[*shape]`` with every row of norm ``eps``.
    """
    return _sample_sphere(key, jnp.asarray(eps, jnp.float32), shape=tuple(int(s) for s in shape),
                          norm=parse_norm(norm))


@functools.partial(jax.jit, static_argnames=("shape", "norm"))
def _sample_sphere(key, eps, *, shape, norm):
    n, d = shape[0], math.prod(shape[1:])
    if norm == "2":
        g = jax.random.normal(key, (n, d), jnp.float32)
        u = g / jnp.maximum(jnp.linalg.norm(g, axis=1, keepdims=True), _TINY)
        return (eps * u).reshape(shape)
    k_face, k_sign, k_rest = jax.random.split(key, 3)
    face = jax.random.randint(k_face, (n,), 0, d)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (n,)), 1.0, -1.0).astype(jnp.float32)
    rest = jax.random.uniform(k_rest, (n, d), jnp.float32, -1.0, 1.0)
    on_face = jnp.arange(d)[None, :] == face[:, None]
    u = jnp.where(on_face, sign[:, None], rest)
    return (eps * u).reshape(shape)


def sample_ball(key: jax.Array, shape, norm, eps) -> jax.Array:
    """Uniform samples in the ball B_eps, one per leading-axis row (random starts).

    l2: a uniform direction times ``eps * U^(1/d)``; linf: uniform in the cube.

    Args:
        key: a ``jax.random.key``.
        shape: ``(n, *point_shape)``.
        norm: see :func:`parse_norm`.
        eps: radius (scalar, may be traced).

    Returns:
        ``f32[*shape]`` with every row of norm at most ``eps``.
    """
    return _sample_ball(key, jnp.asarray(eps, jnp.float32), shape=tuple(int(s) for s in shape),
                        norm=parse_norm(norm))


@functools.partial(jax.jit, static_argnames=("shape", "norm"))
def _sample_ball(key, eps, *, shape, norm):
    n, d = shape[0], math.prod(shape[1:])
    if norm == "2":
        k_dir, k_rad = jax.random.split(key)
        direction = _sample_sphere(k_dir, jnp.float32(1.0), shape=(n, d), norm="2")
        radius = jax.random.uniform(k_rad, (n, 1), jnp.float32) ** (1.0 / d)
        return (eps * radius * direction).reshape(shape)
    return eps * jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
