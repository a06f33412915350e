"""Dominant labels: which classes a universal perturbation sends the points of D to.

Moosavi-Dezfooli et al. observed that a universal perturbation sends most images to
a few "dominant" labels. Given any perturbation (one shared delta, or one per point),
:func:`dominant_labels` counts ``f(I + delta)`` over the correctly classified points
it fools, and the full transition table ``f(I) -> f(I + delta)``. Nothing here is 2D:
the same function serves the plane and ImageNet (in batches of ``batch_size``).

Example:
    >>> import jax, jax.numpy as jnp
    >>> f = jax.tree_util.Partial(lambda x: jnp.stack([-x[:, 1], x[:, 1], 0 * x[:, 1]], 1))
    >>> x = jnp.array([[0.0, -0.1], [0.0, -0.05], [0.0, -0.5]])
    >>> d = dominant_labels(f, x, jnp.array([0.0, 0.2]), labels=jnp.array([0, 0, 0]))
    >>> d.counts.tolist(), d.fooled
    ([0, 2, 0], 2)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class DominantLabels(NamedTuple):
    """Where a perturbation sends the correctly classified points it fools."""

    counts: np.ndarray       # i64[classes] fooled points landing in each class
    transitions: np.ndarray  # i64[classes, classes] [f(I), f(I + delta)] over the correct points
    fooled: int              # correct points whose label changes
    correct: int             # correctly classified points (all points if labels is None)
    shares: np.ndarray       # f64[classes] counts / fooled (zeros if nothing is fooled)
    top: list               # classes in decreasing count, those with a non-zero count


@jax.jit
def _labels_before_after(logits_fn, x, delta):
    return logits_fn(x).argmax(-1), logits_fn(x + delta).argmax(-1)


def dominant_labels(logits_fn, x, delta, *, labels=None, num_classes: int | None = None,
                    batch_size: int = 4096) -> DominantLabels:
    """Counts the labels a perturbation sends the fooled points to.

    Args:
      logits_fn: pytree classifier ``f32[n, *shape] -> f32[n, classes]``.
      x: ``f32[n, *shape]`` points of D.
      delta: ``f32[*shape]`` one shared perturbation, or ``f32[n, *shape]`` one per point.
      labels: ``i32[n]`` true labels: only the points with ``f(I) == label`` count
        (``None``: every point, relative to ``f(I)``).
      num_classes: the number of classes (default: the width of the logits).
      batch_size: points per forward pass (images need small batches).

    Returns:
      :class:`DominantLabels`.
    """
    if not isinstance(logits_fn, jax.tree_util.Partial):
        logits_fn = jax.tree_util.Partial(logits_fn)
    x = jnp.asarray(x, jnp.float32)
    delta = jnp.asarray(delta, jnp.float32)
    shared = delta.shape == x.shape[1:]
    if not shared and delta.shape != x.shape:
        raise ValueError(f"delta must have shape {x.shape[1:]} (shared) or {x.shape} "
                         f"(one per point), got {delta.shape}")
    n = x.shape[0]
    before, after = [], []
    for start in range(0, n, batch_size):
        xb = x[start:start + batch_size]
        db = delta[None] if shared else delta[start:start + batch_size]
        b, a = _labels_before_after(logits_fn, xb, db)
        before.append(np.asarray(b))
        after.append(np.asarray(a))
    before = np.concatenate(before) if before else np.zeros(0, np.int64)
    after = np.concatenate(after) if after else np.zeros(0, np.int64)
    if num_classes is None:
        num_classes = int(logits_fn(x[:1]).shape[-1]) if n else 0
    correct = np.ones(n, bool) if labels is None else before == np.asarray(labels)
    fooled = correct & (after != before)
    counts = np.bincount(after[fooled], minlength=num_classes).astype(np.int64)
    transitions = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(transitions, (before[correct], after[correct]), 1)
    total = int(fooled.sum())
    shares = counts / total if total else np.zeros(num_classes)
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    return DominantLabels(counts=counts, transitions=transitions, fooled=total,
                          correct=int(correct.sum()), shares=shares, top=order)


def dominant_measure(logits_fn, x, y, *, norm, eps, delta=None) -> dict:
    """The dominant labels of a universal perturbation at ``eps`` (JSON-ready).

    Args:
      logits_fn, x, y: the model and the sample of D.
      norm, eps: the ball.
      delta: the perturbation (default: the exact 2D universal one at eps).

    Returns:
      ``{"universal" (the share of correct points fooled), "universal_delta", "counts",
      "shares", "transitions", "fooled", "correct", "dominant", "dominant_share", "eps",
      "norm"}``.
    """
    from attacks import parse_norm
    from categories.exact2d import exact_fractions

    norm = parse_norm(norm)
    if delta is None:
        delta = exact_fractions(logits_fn, x, y, norm=norm, eps=eps).universal_delta
    d = dominant_labels(logits_fn, x, delta, labels=y)
    return {"universal": d.fooled / max(d.correct, 1),
            "universal_delta": [float(v) for v in np.asarray(delta).reshape(-1)],
            "counts": d.counts.tolist(), "shares": [float(s) for s in d.shares],
            "transitions": d.transitions.tolist(), "fooled": d.fooled, "correct": d.correct,
            "dominant": d.top[0] if d.top else None,
            "dominant_share": float(d.shares[d.top[0]]) if d.top else 0.0,
            "eps": float(eps), "norm": norm}


def dominant_report(task, *, norm, eps=None, seed: int = 0, n_points: int = 1000,
                    progress=None) -> dict:
    """:func:`dominant_measure` on a task's preset model and sample of D; adds ``task``,
    ``expected`` and ``classes`` (the number of classes)."""
    from categories.checks import check_eps
    from categories.progress import announce, trained_setting

    s = trained_setting(task, seed=seed, n_points=n_points, progress=progress)
    eps = check_eps(s.task.default_eps if eps is None else eps)
    announce(progress, "following the universal delta")
    out = dominant_measure(s.logits_fn, s.x, s.y, norm=norm, eps=eps)
    out.update(task=s.task.name, expected=s.task.expected, classes=s.task.num_classes,
               seed=seed, points=int(s.x.shape[0]))
    return out


__all__ = ["DominantLabels", "dominant_labels", "dominant_measure", "dominant_report"]
