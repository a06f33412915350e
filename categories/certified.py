"""Every 2D fraction as a certified bracket ``[lo, hi]`` that provably holds the true value,
for any JAX classifier.

The exact scan of :mod:`categories.exact2d` is resolution-limited: a region thinner
than its grid can be missed, so its values are lower bounds at a stated resolution.
Here each fraction gets a bracket from the one bound-propagation engine
(:mod:`categories.bounds`, which reads the jaxpr of ``logits_fn``) and the searches over
boxes of :mod:`categories.boxsearch`:

- ``universal``: branch-and-bound over boxes of delta-space; ``lo`` is the fooling
  count of a concrete delta (re-checked by a forward pass of ``logits_fn``), ``hi``
  the largest upper bound of a box not pruned. They meet: the optimum to the point.
- ``pointwise`` / ``robust``: per point, boxes of B_eps split until either a concrete
  delta inside B_eps flips the point (a witness that ``rho <= eps``, re-checked) or
  every box is proven not to flip it (a certificate that ``rho > eps``). ``pointwise``
  ``lo`` counts the witnessed points, ``hi`` all but the certified ones;
  ``robust = 1 - pointwise``.
- ``random``: arcs of S_eps proven to flip or not, split until the undecided measure is
  below the width.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1)      # the boundary x = 0
    >>> x = jnp.array([[0.05, 0.0], [0.5, 0.0], [-0.1, 0.3]])
    >>> b = certified_fractions(f, x, f(x).argmax(-1), norm="inf", eps=0.2)
    >>> b.pointwise, b.universal                                # exact: both ends meet
    (Bracket(lo=0.6666666666666666, hi=0.6666666666666666), Bracket(lo=0.3333333333333333, hi=0.3333333333333333))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from attacks import parse_norm
from categories.bounds import Program, trace_program
from categories.boxsearch import (MAX_LEVELS, in_ball, pointwise_search, random_search,
                                  universal_search)

KEYS = ("robust", "pointwise", "universal", "random")
RANDOM_WIDTH = 0.005  # random's bracket width when none is asked for


class Bracket(NamedTuple):
    """A proven interval ``lo <= true value <= hi`` (shares of the counted points)."""

    lo: float
    hi: float

    @property
    def width(self) -> float:
        return self.hi - self.lo


class Certified(NamedTuple):
    """The four fractions at one eps, each a :class:`Bracket`, with their evidence."""

    robust: Bracket
    pointwise: Bracket
    universal: Bracket
    random: Bracket
    universal_delta: np.ndarray   # f32[2] flips universal.lo of the counted points
    universal_fooled: np.ndarray  # bool[n] the points it flips
    witnessed: np.ndarray         # bool[n] a re-checked flip inside B_eps
    certified: np.ndarray         # bool[n] proven: no flip inside B_eps
    witness_delta: np.ndarray     # f32[n, 2] the witnesses (zero elsewhere)
    correct: np.ndarray           # bool[n] the counted points
    n: int                        # their number
    clean_accuracy: float
    eps: float
    norm: str


class UniversalBracket(NamedTuple):
    """``universal``'s bracket and its maximiser."""

    universal: Bracket
    delta: np.ndarray             # f32[2]
    fooled: np.ndarray            # bool[n]
    n: int
    boxes: int                    # (box, point) pairs bounded


class PointwiseBrackets(NamedTuple):
    """``pointwise`` and ``robust``'s brackets, with the per-point evidence."""

    pointwise: Bracket
    robust: Bracket
    witnessed: np.ndarray
    certified: np.ndarray
    witness_delta: np.ndarray
    counted: np.ndarray           # bool[n] the points the fractions count
    boxes: np.ndarray             # i32[n] boxes bounded per point
    n: int


class CertifiedCurve(NamedTuple):
    """:func:`certified_fractions` over radii: one :class:`Bracket` per radius."""

    radii: list
    robust: list
    pointwise: list
    universal: list
    random: list
    universal_delta: list         # [[dx, dy], ...]


class _Setting(NamedTuple):
    program: Program
    x: np.ndarray
    pred: np.ndarray
    counted: np.ndarray
    norm: str
    eps: float


def _labels(logits_fn, pts):
    from toymodels import predict_in_chunks

    return np.asarray(predict_in_chunks(logits_fn, np.asarray(pts, np.float32)))


def _setting(logits_fn, x, labels, norm, eps) -> _Setting:
    norm = parse_norm(norm)
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"certification is in the plane: x must be f32[n, 2], got shape "
                         f"{x.shape}")
    pred = _labels(logits_fn, x).astype(np.int32)
    return _Setting(trace_program(logits_fn, (2,)), x, pred, pred == np.asarray(labels), norm, eps)


def _allowed(width, n) -> int:
    return 0 if width is None else int(np.floor(float(width) * n))


def _universal(logits_fn, s: _Setting, width) -> UniversalBracket:
    n = int(s.counted.sum())
    u = universal_search(s.program, s.x, s.pred, s.counted, norm=s.norm, eps=s.eps,
                         slack=_allowed(width, n))
    delta = u.delta.astype(np.float32)
    fooled = (_labels(logits_fn, s.x + delta[None]) != s.pred) & s.counted & bool(
        in_ball(delta.astype(np.float64), s.norm, s.eps))
    count = max(n, 1)
    return UniversalBracket(Bracket(float(fooled.sum() / count), float(u.hi / count)), delta,
                            fooled, n, u.boxes)


def _pointwise(logits_fn, s: _Setting, width, witnessed=None,
               max_levels: int = MAX_LEVELS) -> PointwiseBrackets:
    n = int(s.counted.sum())
    known, known_delta = (None, None) if witnessed is None else witnessed
    witness, certified, wdelta, boxes = pointwise_search(
        s.program, s.x, s.pred, s.counted, norm=s.norm, eps=s.eps, witnessed=known,
        allowed=_allowed(width, n), max_levels=max_levels)
    if known is not None:
        wdelta[known] = np.asarray(known_delta, np.float32)[known]
    # every witness re-checked: inside B_eps and a changed label by logits_fn
    ok = in_ball(wdelta.astype(np.float64), s.norm, s.eps) & (
        _labels(logits_fn, s.x + wdelta) != s.pred)
    witness &= ok
    wdelta[~witness] = 0.0
    count = max(n, 1)
    p_lo, p_hi = float(witness.sum() / count), float((n - certified.sum()) / count)
    return PointwiseBrackets(Bracket(p_lo, p_hi), Bracket(1 - p_hi, 1 - p_lo), witness,
                             certified, wdelta, s.counted, boxes, n)


def _random(s: _Setting, width) -> Bracket:
    lo, hi, _, _ = random_search(s.program, s.x, s.pred, s.counted, norm=s.norm, eps=s.eps,
                                 width=RANDOM_WIDTH if width is None else float(width))
    return Bracket(lo, hi)


def certified_universal(logits_fn, x, labels, *, norm, eps, width=None) -> UniversalBracket:
    """``universal``'s bracket alone (see :func:`certified_fractions`)."""
    return _universal(logits_fn, _setting(logits_fn, x, labels, norm, eps), width)


def certified_pointwise(logits_fn, x, labels, *, norm, eps, width=None, witnessed=None,
                        max_levels: int = MAX_LEVELS) -> PointwiseBrackets:
    """``pointwise`` and ``robust``'s brackets alone (see :func:`certified_fractions`).

    Args:
      witnessed: optional ``(bool[n], f32[n, 2])``: points known to flip and their deltas
        (re-checked here like every witness).
      max_levels: rounds of splitting a point's undecided boxes in four; beyond, the
        point stays undecided (the bracket widens).
    """
    return _pointwise(logits_fn, _setting(logits_fn, x, labels, norm, eps), width, witnessed,
                      max_levels)


def certified_random(logits_fn, x, labels, *, norm, eps, width=None) -> Bracket:
    """``random``'s bracket alone, to ``width`` (default :data:`RANDOM_WIDTH`)."""
    return _random(_setting(logits_fn, x, labels, norm, eps), width)


def certified_fractions(logits_fn, x, labels, *, norm, eps, width=None) -> Certified:
    """The four fractions at ``eps``, each as a certified :class:`Bracket`.

    Labels: ``labels`` may be the model's own predictions, ``f(x)``: then every point
    counts and "fooled" means "the prediction changed", the convention of attack
    libraries. With the true labels only the correctly classified points count, as
    everywhere in the project (the fractions are shares of them); in both cases a
    point is fooled when ``f(x + delta) != f(x)``.

    Args:
      logits_fn: any JAX classifier ``f32[n, 2] -> f32[n, classes]`` made of the
        primitives the engine bounds (:data:`categories.bounds.SUPPORTED`: dense layers,
        relu, tanh, sigmoid, gelu, ...; a plain function, a ``Partial``, a Flax model).
      x: ``f32[n, 2]`` points of D; labels: ``i32[n]`` (see above).
      norm: 2 or inf. eps: the radius (> 0).
      width: the widest bracket accepted for every fraction; ``None``: ``universal``
        and ``pointwise`` searched until their ends meet (exact to the point, unless a
        search budget runs out: then the bracket says so by its width), ``random`` to
        a width of :data:`RANDOM_WIDTH`.

    Returns:
      :class:`Certified`.

    Raises:
      categories.bounds.UnsupportedPrimitive: ``logits_fn`` uses a primitive the engine
        cannot bound (the message names it).
    """
    s = _setting(logits_fn, x, labels, norm, eps)
    u = _universal(logits_fn, s, width)
    delta = np.broadcast_to(u.delta, (len(s.x), 2))
    p = _pointwise(logits_fn, s, width, witnessed=(u.fooled, delta))
    r = _random(s, width)
    # the true values keep random <= universal <= pointwise: so may the upper ends
    u_hi = min(u.universal.hi, p.pointwise.hi)
    counted = s.counted
    return Certified(p.robust, p.pointwise, Bracket(u.universal.lo, u_hi),
                     Bracket(r.lo, min(r.hi, u_hi)), u.delta, u.fooled, p.witnessed,
                     p.certified, p.witness_delta, counted, u.n,
                     float(counted.mean()) if len(s.x) else 0.0, s.eps, s.norm)


def certified_curve(logits_fn, x, labels, *, norm, radii, width=None) -> CertifiedCurve:
    """:func:`certified_fractions` at every radius of ``radii``."""
    radii = [float(r) for r in radii]
    found = [certified_fractions(logits_fn, x, labels, norm=norm, eps=r, width=width)
             for r in radii]
    return CertifiedCurve(radii, *([getattr(b, k) for b in found] for k in KEYS),
                          [[float(v) for v in b.universal_delta] for b in found])


__all__ = ["Bracket", "Certified", "CertifiedCurve", "KEYS", "PointwiseBrackets", "RANDOM_WIDTH",
           "UniversalBracket", "certified_curve", "certified_fractions", "certified_pointwise",
           "certified_random", "certified_universal"]
