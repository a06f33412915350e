"""Every 2D fraction as a certified bracket ``[lo, hi]`` that provably holds the true value.

The exact scan of :mod:`categories.exact2d` is resolution-limited: a region thinner
than its grid can be missed, so its values are lower bounds at a stated resolution.
Here each fraction gets a bracket from bound propagation through the MLP over boxes
of the plane (:mod:`categories.boxsearch`):

- ``universal``: branch-and-bound over boxes of delta-space; ``lo`` is the fooling
  count of a concrete delta (re-checked by a forward pass of ``logits_fn``), ``hi``
  the largest upper bound of a box not pruned. They meet: the optimum to the point.
- ``pointwise`` / ``robust``: per point, boxes of B_eps split until either a concrete
  delta inside B_eps flips the point (a witness that ``rho <= eps``, re-checked) or
  every box is proven not to flip it (a certificate that ``rho > eps``). ``pointwise``
  ``lo`` counts the witnessed points, ``hi`` all but the certified ones;
  ``robust = 1 - pointwise``.
- ``random``: S_eps (the circle, or the square's boundary for linf, in arc length) cut
  into arcs whose bounding boxes are proven to flip or not, split until the undecided
  measure is below the width.

Example:
    >>> b = certified_fractions(logits_fn, x, y, norm="inf", eps=0.3)  # doctest: +SKIP
    >>> lo, hi = b["universal"]; hi - lo <= 1 / b["n"]
    True
"""

from __future__ import annotations

import numpy as np

from attacks import parse_norm
from categories.boxsearch import (MARGIN, as_net, bound_boxes, box_candidate, in_ball,
                                  meets_ball, quarter, universal_search)

KEYS = ("robust", "pointwise", "universal", "random")
RANDOM_WIDTH = 0.005  # random's bracket width when none is asked for


def _labels(logits_fn, pts):
    from toymodels import predict_in_chunks

    return np.asarray(predict_in_chunks(logits_fn, np.asarray(pts, np.float32)))


def pointwise_search(net, x, pred, counted, *, norm: str, eps: float, witnessed=None,
                     allowed: int = 0, max_levels: int = 14, max_boxes: int = 4096):
    """Per point: a witness flip inside B_eps, a certificate over it, or neither.

    Args:
      net: from :func:`categories.boxsearch.as_net`; x, pred, counted as in
        :func:`categories.boxsearch.universal_search`.
      norm, eps: the ball.
      witnessed: ``bool[n]`` points already known to flip (their search is skipped).
      allowed: stop once at most this many points are undecided.
      max_levels: rounds of splitting each undecided box in four.
      max_boxes: most open boxes of one point; beyond, it stays undecided.

    Returns:
      ``(witness bool[n], certified bool[n], delta f32[n, 2])``: the witness deltas
      (zero where none) are not yet re-checked on ``logits_fn``.
    """
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    witness = np.zeros(n, bool) if witnessed is None else np.asarray(witnessed, bool).copy()
    delta = np.zeros((n, 2), np.float32)
    failed = np.zeros(n, bool)
    owner = np.flatnonzero(counted & ~witness)
    lo = np.full((owner.size, 2), -eps, np.float64)
    hi = np.full((owner.size, 2), eps, np.float64)
    for level in range(max_levels + 1):
        keep = meets_ball(lo, hi, norm, eps) & ~witness[owner]
        owner, lo, hi = owner[keep], lo[keep], hi[keep]
        if owner.size == 0:
            break
        cand = box_candidate(lo, hi, norm, eps)
        lb, ub, flip, flip_c, corner = bound_boxes(net, x[owner], lo, hi, cand, pred[owner],
                                                   norm=norm, eps=eps, corners=True)
        for hit, d in ((flip_c, corner), (flip, cand)):
            delta[owner[hit]] = d[hit]
            witness[owner[hit]] = True
        open_ = ~(lb > MARGIN) & ~witness[owner]
        owner, lo, hi = owner[open_], lo[open_], hi[open_]
        undecided = np.unique(owner)
        if undecided.size <= allowed or level == max_levels:
            failed[undecided] = True
            break
        crowded = np.bincount(owner, minlength=n) * 4 > max_boxes
        failed |= crowded
        keep = ~crowded[owner]
        owner, lo, hi = np.tile(owner[keep], 4), *quarter(lo[keep], hi[keep])
    certified = counted & ~witness & ~failed
    return witness & counted, certified, delta


def _sphere(norm: str, s):
    """``categories.exact2d.sphere_point`` in float64 numpy (unit p-sphere, arc length)."""
    s = np.mod(s, 1.0)
    if norm == "2":
        a = 2 * np.pi * s
        return np.stack([np.cos(a), np.sin(a)], -1)
    p = 8 * s
    side = np.clip(np.floor(p / 2), 0, 3)
    t = p - 2 * side - 1
    one = np.ones_like(t)
    cands = np.stack([np.stack([one, t], -1), np.stack([-t, one], -1),
                      np.stack([-one, -t], -1), np.stack([t, -one], -1)], 0)
    return np.take_along_axis(cands, side.astype(np.int64)[None, ..., None], 0)[0]


def random_search(net, x, pred, counted, *, norm: str, eps: float, width: float = RANDOM_WIDTH,
                  arcs: int = 8, max_levels: int = 20):
    """``random``'s bracket: arcs of S_eps proven to flip each point, or not.

    Arcs start aligned with the quadrants (l2) or the square's sides (linf), where the
    bounding box of an arc is the box of its two ends.

    Returns:
      ``(lo, hi, flipped f64[n], undecided f64[n])``: the shares of S_eps (in arc length)
      proven to flip each point and still undecided; lo and hi are means over the
      counted points.
    """
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    count = max(int(counted.sum()), 1)
    flipped = np.zeros(n)
    undecided = np.zeros(n)
    pts = np.flatnonzero(counted)
    owner = np.repeat(pts, arcs)
    s0 = np.tile(np.arange(arcs) / arcs, pts.size)
    length = np.full(owner.size, 1.0 / arcs)
    for level in range(max_levels + 1):
        if owner.size == 0:
            break
        a, b = eps * _sphere(norm, s0), eps * _sphere(norm, s0 + length)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        mid = eps * _sphere(norm, s0 + 0.5 * length)
        lb, ub, _ = bound_boxes(net, x[owner], lo, hi, mid, pred[owner], norm=norm, eps=eps)
        sure = ub < -MARGIN
        np.add.at(flipped, owner[sure], length[sure])
        open_ = ~(lb > MARGIN) & ~sure
        owner, s0, length = owner[open_], s0[open_], length[open_]
        if length.sum() / count <= width or level == max_levels:
            np.add.at(undecided, owner, length)
            break
        owner = np.repeat(owner, 2)
        s0 = np.stack([s0, s0 + 0.5 * length], 1).reshape(-1)
        length = np.repeat(0.5 * length, 2)
    lo = float(flipped[counted].sum() / count)
    return lo, float(lo + undecided[counted].sum() / count), flipped, undecided


def _setting(logits_fn, x, labels, norm, eps):
    norm = parse_norm(norm)
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    x = np.asarray(x, np.float32)
    pred = _labels(logits_fn, x).astype(np.int32)
    return as_net(logits_fn), x, pred, pred == np.asarray(labels), norm, eps


def certified_universal(logits_fn, x, labels, *, norm, eps, width=None) -> dict:
    """``universal``'s bracket alone (see :func:`certified_fractions`).

    Returns:
      ``{"universal": (lo, hi), "universal_delta", "universal_fooled", "n", "boxes"}``.
    """
    net, x, pred, counted, norm, eps = _setting(logits_fn, x, labels, norm, eps)
    n = int(counted.sum())
    allowed = 0 if width is None else int(np.floor(float(width) * n))
    u = universal_search(net, x, pred, counted, norm=norm, eps=eps, slack=allowed)
    delta = u.delta.astype(np.float32)
    fooled = (_labels(logits_fn, x + delta[None]) != pred) & counted & bool(
        in_ball(delta.astype(np.float64), norm, eps))
    count = max(n, 1)
    return {"universal": (float(fooled.sum() / count), float(u.hi / count)),
            "universal_delta": delta, "universal_fooled": fooled, "n": n, "boxes": u.boxes}


def certified_pointwise(logits_fn, x, labels, *, norm, eps, width=None, witnessed=None) -> dict:
    """``pointwise`` and ``robust``'s brackets alone (see :func:`certified_fractions`).

    Args:
      witnessed: optional ``(bool[n], f32[n, 2])``: points known to flip and their deltas
        (re-checked here like every witness).

    Returns:
      ``{"pointwise": (lo, hi), "robust": (lo, hi), "witnessed", "certified",
      "witness_delta", "n"}``.
    """
    net, x, pred, counted, norm, eps = _setting(logits_fn, x, labels, norm, eps)
    n = int(counted.sum())
    allowed = 0 if width is None else int(np.floor(float(width) * n))
    known, known_delta = (None, None) if witnessed is None else witnessed
    witness, certified, wdelta = pointwise_search(net, x, pred, counted, norm=norm, eps=eps,
                                                  witnessed=known, allowed=allowed)
    if known is not None:
        wdelta[known] = np.asarray(known_delta, np.float32)[known]
    # every witness re-checked: inside B_eps and a changed label by logits_fn
    ok = in_ball(wdelta.astype(np.float64), norm, eps) & (_labels(logits_fn, x + wdelta) != pred)
    witness &= ok
    wdelta[~witness] = 0.0
    count = max(n, 1)
    p_lo, p_hi = float(witness.sum() / count), float((n - certified.sum()) / count)
    return {"pointwise": (p_lo, p_hi), "robust": (1 - p_hi, 1 - p_lo), "witnessed": witness,
            "certified": certified, "witness_delta": wdelta, "n": n}


def certified_random(logits_fn, x, labels, *, norm, eps, width=None) -> dict:
    """``random``'s bracket alone, to ``width`` (default :data:`RANDOM_WIDTH`).

    Returns:
      ``{"random": (lo, hi), "n"}``.
    """
    net, x, pred, counted, norm, eps = _setting(logits_fn, x, labels, norm, eps)
    lo, hi, _, _ = random_search(net, x, pred, counted, norm=norm, eps=eps,
                                 width=RANDOM_WIDTH if width is None else float(width))
    return {"random": (lo, hi), "n": int(counted.sum())}


def certified_fractions(logits_fn, x, labels, *, norm, eps, width=None) -> dict:
    """The four fractions at ``eps``, each as a certified bracket ``(lo, hi)``.

    Labels: ``labels`` may be the model's own predictions, ``f(x)``: then every point
    counts and "fooled" means "the prediction changed", the convention of attack
    libraries. With the true labels only the correctly classified points count, as
    everywhere in the project (the fractions are shares of them); in both cases a
    point is fooled when ``f(x + delta) != f(x)``.

    Args:
      logits_fn: a plane MLP of :mod:`toymodels` (bound propagation needs its weights:
        relu, tanh, sigmoid or gelu).
      x: ``f32[n, 2]`` points of D; labels: ``i32[n]`` (see above).
      norm: 2 or inf. eps: the radius (> 0).
      width: the widest bracket accepted for every fraction; ``None``: ``universal``
        and ``pointwise`` searched until their ends meet (exact to the point, unless a
        search budget runs out: then the bracket says so by its width), ``random`` to
        a width of :data:`RANDOM_WIDTH`.

    Returns:
      ``{"robust", "pointwise", "universal", "random"}``: ``(lo, hi)`` floats; and
      ``universal_delta`` (f32[2], re-checked by a forward pass: it flips
      ``universal[0]`` of the counted points), ``universal_fooled`` (bool[n]),
      ``witnessed`` / ``certified`` (bool[n]: a re-checked flip inside B_eps / a proof
      of none), ``witness_delta`` (f32[n, 2]), ``correct`` (bool[n], the counted
      points), ``n`` (their number), ``clean_accuracy``, ``eps``, ``norm``.
    """
    norm = parse_norm(norm)
    kw = dict(norm=norm, eps=eps, width=width)
    u = certified_universal(logits_fn, x, labels, **kw)
    delta = np.broadcast_to(u["universal_delta"], (len(x), 2))
    p = certified_pointwise(logits_fn, x, labels, witnessed=(u["universal_fooled"], delta), **kw)
    r = certified_random(logits_fn, x, labels, **kw)
    # the true values keep random <= universal <= pointwise: so may the upper ends
    u_hi = min(u["universal"][1], p["pointwise"][1])
    counted = np.asarray(labels) == _labels(logits_fn, x)
    return {"robust": p["robust"], "pointwise": p["pointwise"],
            "universal": (u["universal"][0], u_hi), "random": (r["random"][0],
                                                               min(r["random"][1], u_hi)),
            "universal_delta": u["universal_delta"], "universal_fooled": u["universal_fooled"],
            "witnessed": p["witnessed"], "certified": p["certified"],
            "witness_delta": p["witness_delta"], "correct": counted, "n": u["n"],
            "clean_accuracy": float(counted.mean()) if len(x) else 0.0,
            "eps": float(eps), "norm": norm}


def certified_curve(logits_fn, x, labels, *, norm, radii, width=None) -> dict:
    """:func:`certified_fractions` at every radius of ``radii``.

    Returns:
      ``{"radii": [...], "robust": [(lo, hi), ...], ..., "universal_delta": [[dx, dy], ...]}``.
    """
    out = {"radii": [float(r) for r in radii], **{k: [] for k in KEYS}, "universal_delta": []}
    for r in out["radii"]:
        b = certified_fractions(logits_fn, x, labels, norm=norm, eps=r, width=width)
        for k in KEYS:
            out[k].append(b[k])
        out["universal_delta"].append([float(v) for v in b["universal_delta"]])
    return out


__all__ = ["KEYS", "RANDOM_WIDTH", "certified_curve", "certified_fractions", "certified_pointwise",
           "certified_random", "certified_universal", "pointwise_search", "random_search"]
