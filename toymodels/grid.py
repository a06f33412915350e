"""Grids over the plane: the classifier's regions as an image.

Example:
    >>> import jax, jax.numpy as jnp
    >>> f = jax.tree_util.Partial(lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1))
    >>> g = plane_grid(((-1, 1), (-1, 1)), 4)
    >>> classify_grid(f, g).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Grid(NamedTuple):
    """A ``res x res`` grid of cell centres over ``bounds``."""

    xs: np.ndarray      # f32[res]  x of each column
    ys: np.ndarray      # f32[res]  y of each row
    points: np.ndarray  # f32[res*res, 2], row-major (y outer, x inner)
    bounds: tuple


def plane_grid(bounds, res: int) -> Grid:
    """Cell centres of a ``res x res`` grid over ``bounds = ((x0, x1), (y0, y1))``."""
    (x0, x1), (y0, y1) = bounds
    xs = x0 + (np.arange(res) + 0.5) * (x1 - x0) / res
    ys = y0 + (np.arange(res) + 0.5) * (y1 - y0) / res
    xx, yy = np.meshgrid(xs, ys)
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
    return Grid(xs.astype(np.float32), ys.astype(np.float32), pts, tuple(map(tuple, bounds)))


def predict_in_chunks(logits_fn, points, *, chunk: int = 1 << 16, with_confidence: bool = False):
    """Labels (argmax of the logits) of many points, ``chunk`` at a time (traceable).

    More points than ``chunk`` go through ``lax.map`` over zero-padded chunks, so memory
    stays bounded however fine the grid.

    Args:
      logits_fn: classifier ``f32[n, 2] -> f32[n, classes]``.
      points: ``f32[m, 2]``.
      chunk: points per evaluation, static.
      with_confidence: also return the top softmax probability.

    Returns:
      ``i32[m]`` labels, and ``f32[m]`` confidences if asked.
    """
    def one(q):
        z = logits_fn(q)
        lab = jnp.argmax(z, -1).astype(jnp.int32)
        return (lab, jax.nn.softmax(z).max(-1)) if with_confidence else lab

    m = points.shape[0]
    if m <= chunk:
        return one(points)
    pad = (-m) % chunk
    p = jnp.concatenate([points, jnp.zeros((pad,) + points.shape[1:], points.dtype)])
    out = jax.lax.map(one, p.reshape((-1, chunk) + points.shape[1:]))
    return jax.tree_util.tree_map(lambda a: a.reshape(-1)[:m], out)


@functools.partial(jax.jit, static_argnames=("chunk",))
def _labels_and_probs(logits_fn, points, chunk=1 << 16):
    return predict_in_chunks(logits_fn, points, chunk=chunk, with_confidence=True)


def classify_grid(logits_fn, grid: Grid, *, with_confidence: bool = False):
    """Labels of every grid cell.

    Args:
      logits_fn: pytree classifier ``f32[n, 2] -> f32[n, classes]``.
      grid: from :func:`plane_grid`.
      with_confidence: also return the top softmax probability per cell.

    Returns:
      ``i32[res, res]`` labels (row = y), and ``f32[res, res]`` confidences if asked.
    """
    res = len(grid.xs)
    lab, prob = _labels_and_probs(logits_fn, jnp.asarray(grid.points))
    lab = np.asarray(lab).reshape(res, res)
    return (lab, np.asarray(prob).reshape(res, res)) if with_confidence else lab
