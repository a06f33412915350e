"""Crossings: how many decision boundaries the segment from I to I + delta crosses.

The essay's footnote 3: the straight path from an image to a slightly changed one
may cross several decision boundaries. The number of crossings is counted as the
number of label changes along the segment ``I + t delta``, ``t in [0, 1]``, in two
stages, for any input shape:

1. ``samples + 1`` evenly spaced points give the labels and the margin
   ``m = z_label - max_other z`` with its derivative along the segment (one
   forward-mode product, :func:`jax.jvp`);
2. per point, the ``refine`` most suspicious intervals are resampled with ``split - 1``
   interior points: first every interval whose end labels differ, then those where a
   linear extrapolation of the margin from either end dips below zero -- the places a
   pair of crossings can hide between two equal labels.

The resolution is ``1 / (samples * split)`` of the segment inside the refined
intervals and ``1 / samples`` elsewhere; the counts agree with a dense sampling of
the segment at the refined resolution (the test), at a fraction of its cost.

Example:
    >>> import jax, jax.numpy as jnp
    >>> f = jax.tree_util.Partial(lambda x: jnp.stack([jnp.sin(40 * x[:, 0]), 0 * x[:, 0]], 1))
    >>> c = crossing_counts(f, jnp.array([[0.01, 0.0]]), jnp.array([0.5, 0.0]))
    >>> c.counts.tolist()   # sin(40 t) changes sign at t = k pi / 40, k = 1..6
    [6]
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Crossings(NamedTuple):
    """Label changes along segments ``I + t delta``, ``t in [0, 1]``."""

    counts: jax.Array   # i32[n] number of label changes along each segment
    first: jax.Array    # f32[n] t of the first change (inf if none), to the refined resolution
    end_changed: jax.Array  # bool[n] f(I + delta) != f(I)


def _margin(logits, label):
    own = jnp.take_along_axis(logits, label[:, None], 1)[:, 0]
    other = jnp.where(jax.nn.one_hot(label, logits.shape[1], dtype=jnp.bool_), -jnp.inf, logits)
    return own - other.max(1)


@functools.partial(jax.jit, static_argnames=("samples", "refine", "split"))
def _crossings(logits_fn, x, delta, *, samples, refine, split):
    n = x.shape[0]
    ts = jnp.arange(samples + 1, dtype=jnp.float32) / samples
    bshape = (n,) + (1,) * (x.ndim - 1)

    def at(t):
        """Logits at ``x + t delta`` and their derivative in t."""
        return jax.jvp(logits_fn, (x + t.reshape(bshape) * delta,), (delta,))

    z, dz = jax.lax.map(lambda t: at(jnp.full((n,), t)), ts)       # [S+1, n, C]
    lab = z.argmax(-1).astype(jnp.int32)                            # [S+1, n]
    m = jax.vmap(_margin)(z, lab)                                   # [S+1, n] >= 0
    own = jax.vmap(lambda d, l: jnp.take_along_axis(d, l[:, None], 1)[:, 0])
    second = jnp.where(jax.nn.one_hot(lab, z.shape[-1], dtype=jnp.bool_), -jnp.inf, z).argmax(-1)
    dm = own(dz, lab) - own(dz, second)                             # d margin / dt
    h = 1.0 / samples
    changed = lab[1:] != lab[:-1]                                   # [S, n]
    dip = jnp.minimum(m[:-1] + jnp.minimum(dm[:-1], 0.0) * h, m[1:] - jnp.maximum(dm[1:], 0.0) * h)
    score = jnp.where(changed, -jnp.inf, dip).T                     # [n, S]
    k = min(refine, samples)
    _, idx = jax.lax.top_k(-score, k)                               # [n, K] most suspicious
    sub = jnp.arange(1, split, dtype=jnp.float32) / split
    tt = (idx.astype(jnp.float32)[..., None] + sub) * h             # [n, K, R-1]

    def labels_at(t):  # t: [n] -> i32[n]
        return logits_fn(x + t.reshape(bshape) * delta).argmax(-1).astype(jnp.int32)

    inner = jax.lax.map(labels_at, tt.reshape(n, -1).T).T.reshape(n, k, split - 1)
    left = jnp.take_along_axis(lab.T, idx, 1)
    right = jnp.take_along_axis(lab.T, idx + 1, 1)
    seq = jnp.concatenate([left[..., None], inner, right[..., None]], -1)   # [n, K, R+1]
    fine_changes = (seq[..., 1:] != seq[..., :-1])                  # [n, K, R]
    chosen = jnp.zeros((n, samples), bool).at[jnp.arange(n)[:, None], idx].set(True)
    coarse = changed.T & ~chosen
    counts = fine_changes.sum((1, 2)) + coarse.sum(1)
    # first crossing: the earliest change, fine or coarse (t of the later sample)
    tf = jnp.concatenate([tt, (idx.astype(jnp.float32) + 1.0)[..., None] * h], -1)  # [n, K, R]
    t_fine = jnp.where(fine_changes, tf, jnp.inf).min((1, 2))
    t_coarse = jnp.where(coarse, ts[1:][None], jnp.inf).min(1)
    return counts.astype(jnp.int32), jnp.minimum(t_fine, t_coarse), lab[-1] != lab[0]


def crossing_counts(logits_fn, x, delta, *, samples: int = 64, refine: int = 16,
                    split: int = 32) -> Crossings:
    """Counts the label changes along ``I + t delta`` for every point.

    Args:
      logits_fn: pytree classifier ``f32[n, *shape] -> f32[n, classes]``.
      x: ``f32[n, *shape]`` the segments' starts.
      delta: ``f32[*shape]`` one shared perturbation or ``f32[n, *shape]`` one per point.
      samples: coarse intervals along the segment.
      refine: intervals per point resampled finely.
      split: sub-intervals of a refined interval.

    Returns:
      :class:`Crossings`.
    """
    if samples < 1 or refine < 1 or split < 2:
        raise ValueError(f"need samples >= 1, refine >= 1 and split >= 2, got {samples}, "
                         f"{refine} and {split}")
    if not isinstance(logits_fn, jax.tree_util.Partial):
        logits_fn = jax.tree_util.Partial(logits_fn)
    x = jnp.asarray(x, jnp.float32)
    delta = jnp.asarray(delta, jnp.float32)
    if delta.shape == x.shape[1:]:
        delta = jnp.broadcast_to(delta, x.shape)
    elif delta.shape != x.shape:
        raise ValueError(f"delta must have shape {x.shape[1:]} (shared) or {x.shape} "
                         f"(one per point), got {delta.shape}")
    counts, first, end = _crossings(logits_fn, x, delta, samples=int(samples),
                                    refine=int(refine), split=int(split))
    return Crossings(counts, first, end)


def dense_crossing_counts(logits_fn, x, delta, *, samples: int = 4096) -> np.ndarray:
    """Reference: label changes over ``samples + 1`` evenly spaced points (``i32[n]``)."""
    x = jnp.asarray(x, jnp.float32)
    delta = jnp.broadcast_to(jnp.asarray(delta, jnp.float32), x.shape)
    ts = jnp.arange(samples + 1, dtype=jnp.float32) / samples
    lab = jax.lax.map(lambda t: logits_fn(x + t * delta).argmax(-1), ts, batch_size=64)
    return np.asarray((lab[1:] != lab[:-1]).sum(0))


def histogram(counts, correct=None, *, top: int | None = None) -> list:
    """``h[k]`` = share of the (correct) points whose segment crosses ``k`` times.

    Args:
      counts: ``i[n]``; correct: optional ``bool[n]`` selecting the points.
      top: length of the histogram (default ``max count + 1``); larger counts go in the last bin.

    Returns:
      A list of floats summing to 1 (empty if no point is selected).
    """
    c = np.asarray(counts)
    if correct is not None:
        c = c[np.asarray(correct, bool)]
    if c.size == 0:
        return []
    top = int(c.max()) + 1 if top is None else top
    h = np.bincount(np.minimum(c, top - 1), minlength=top)
    return (h / c.size).tolist()


def crossings_measure(logits_fn, x, y, *, norm, eps, key, **kwargs) -> dict:
    """Crossing counts of three kinds of segments of size eps, on the correct points of D.

    - ``universal``: the exact 2D universal perturbation at eps, shared by all points;
    - ``pointwise``: each point's minimal perturbation direction, scaled to size eps;
    - ``random``: one uniform direction on S_eps per point.

    Returns:
      ``{kind: {"mean", "max", "histogram", "end_changed", "counts"}, "eps", "norm"}``.
    """
    import attacks
    from attacks import lp_norm, parse_norm
    from categories.exact2d import exact_at, scan_profile

    norm = parse_norm(norm)
    x = jnp.asarray(x, jnp.float32)
    prof = scan_profile(logits_fn, x, y, norm=norm, eps_max=eps)
    fr = exact_at(logits_fn, x, prof, norm=norm, eps=eps)
    # the minimal perturbation's direction, from a scan that reaches past eps
    far = scan_profile(logits_fn, x, y, norm=norm, eps_max=max(1.0, 4 * eps))
    size = lp_norm(far.r, norm)
    found = size > 0
    rnd = attacks.sample_sphere(key, x.shape, norm, eps)
    pointwise = jnp.where(found[:, None], far.r * (eps / jnp.where(found, size, 1.0))[:, None], rnd)
    correct = np.asarray(prof.correct)
    out = {}
    for kind, delta in (("universal", fr.universal_delta), ("pointwise", pointwise),
                        ("random", rnd)):
        c = crossing_counts(logits_fn, x, delta, **kwargs)
        counts = np.asarray(c.counts)[correct]
        out[kind] = {"mean": float(counts.mean()) if counts.size else 0.0,
                     "max": int(counts.max()) if counts.size else 0,
                     "histogram": histogram(counts),
                     "end_changed": float(np.asarray(c.end_changed)[correct].mean())
                     if counts.size else 0.0,
                     "counts": counts.tolist()}
    out.update(eps=float(eps), norm=norm, universal_delta=[float(v) for v in
                                                           np.asarray(fr.universal_delta)])
    return out


def crossings_report(task, *, norm, eps=None, seed: int = 0, n_points: int = 1000,
                     progress=None) -> dict:
    """:func:`crossings_measure` on a task's preset model and sample of D; adds ``task``,
    ``expected`` and ``seed``."""
    from categories.checks import check_eps
    from categories.progress import announce, trained_setting

    s = trained_setting(task, seed=seed, n_points=n_points, progress=progress)
    eps = check_eps(s.task.default_eps if eps is None else eps)
    announce(progress, "counting crossings")
    out = crossings_measure(s.logits_fn, s.x, s.y, norm=norm, eps=eps, key=s.key)
    out.update(task=s.task.name, expected=s.task.expected, seed=seed, points=int(s.x.shape[0]))
    return out


__all__ = ["Crossings", "crossing_counts", "dense_crossing_counts", "histogram",
           "crossings_measure", "crossings_report"]
