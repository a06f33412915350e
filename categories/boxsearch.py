"""Searches over boxes of the plane: the certified universal optimum, per-point witnesses
and certificates, and the arcs of S_eps, all bounded by the one engine
(:func:`categories.bounds.bound_boxes`).

- universal: ``max_{delta in B_eps} #{i : f(x_i + delta) != f(x_i)}`` by branch-and-bound
  over boxes of delta-space. A box ``Q`` of deltas has an upper bound (points not proven
  unflipped over ``x_i + Q``) and a lower bound (points a concrete delta of ``Q`` flips,
  by a forward pass). Boxes are split in four, highest upper bound first; a box whose
  upper bound is at most the best lower bound is pruned; the search stops when they meet.
- pointwise: per point, boxes of B_eps split until a concrete delta inside B_eps flips
  the point (a witness that ``rho <= eps``) or every box is proven not to flip it (a
  certificate that ``rho > eps``).
- random: S_eps (the circle, or the square's boundary for linf, in arc length) cut into
  arcs whose bounding boxes are proven to flip or not, split until the undecided
  measure is small.

Soundness: the boxes cover B_eps (l2: the sub-boxes of the square that meet the disk)
and every bound holds for every point of its box; against float32 rounding the engine
widens boxes by :data:`categories.bounds.SLACK` and a decision needs a margin beyond
:data:`categories.bounds.MARGIN`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from categories.bounds import MARGIN, Program, bound_boxes

MAX_LEVELS = 14   # rounds of splitting a point's undecided boxes in four


def in_ball(d, norm: str, eps: float):
    """``|d|_p <= eps`` row by row."""
    size = np.sqrt((d ** 2).sum(-1)) if norm == "2" else np.abs(d).max(-1)
    return size <= eps


def meets_ball(lo, hi, norm: str, eps: float):
    """Whether each box ``[lo, hi]`` meets B_eps (for linf every sub-box of B_eps does)."""
    if norm != "2":
        return np.ones(lo.shape[0], bool)
    gap = np.maximum(np.maximum(lo, -hi), 0.0)
    return (gap ** 2).sum(1) <= eps ** 2


def box_candidate(lo, hi, norm: str, eps: float):
    """A delta of each box inside B_eps: the centre, else (l2) the centre pulled onto the
    circle if that stays in the box, else the box's point nearest the origin."""
    c = 0.5 * (lo + hi)
    if norm != "2":
        return c
    size = np.sqrt((c ** 2).sum(1, keepdims=True))
    pulled = c * np.minimum(1.0, eps * (1 - 1e-6) / np.maximum(size, 1e-30))
    inside_box = ((pulled >= lo) & (pulled <= hi)).all(1, keepdims=True)
    near = np.clip(0.0, lo, hi)
    return np.where(size <= eps * (1 - 1e-6), c, np.where(inside_box, pulled, near))


def quarter(lo, hi):
    """Each box split in four: ``(lo, hi)`` of shape ``[4 B, 2]``, the children of box b
    at rows ``b, B + b, 2 B + b, 3 B + b``."""
    mid = 0.5 * (lo + hi)
    los = [lo, np.stack([mid[:, 0], lo[:, 1]], 1), np.stack([lo[:, 0], mid[:, 1]], 1), mid]
    his = [mid, np.stack([hi[:, 0], mid[:, 1]], 1), np.stack([mid[:, 0], hi[:, 1]], 1), hi]
    return np.concatenate(los), np.concatenate(his)


class Universal(NamedTuple):
    """The certified universal optimum, in counts of the counted points."""

    lo: int                 # points flipped by ``delta`` (re-checked by a forward pass)
    hi: int                 # no delta of B_eps flips more
    delta: np.ndarray       # f32[2]
    fooled: np.ndarray      # bool[n] the counted points delta flips
    boxes: int              # boxes bounded
    done: bool              # lo and hi met (else the budget ran out)


def universal_search(program: Program, x, pred, counted, *, norm: str, eps: float, slack: int = 0,
                     pair_budget: int = 16384, max_pairs: int = 4_000_000) -> Universal:
    """Branch-and-bound over boxes of delta-space (see the module docstring).

    Args:
      program: the classifier (:func:`categories.bounds.trace_program`). x: ``f32[n, 2]``; pred: ``i32[n]`` labels to keep;
        counted: ``bool[n]`` the points the optimum counts.
      norm, eps: the ball.
      slack: stop once the upper bound is at most the lower bound plus this many points.
      pair_budget: (box, point) pairs bounded per step (the most promising boxes first).
      max_pairs: give up (with a wider bracket) after bounding this many pairs.

    Returns:
      :class:`Universal` (``delta``'s flips are not yet re-checked on ``logits_fn``).
    """
    x = np.asarray(x, np.float32)
    pred = np.asarray(pred, np.int32)
    pts = np.flatnonzero(counted)
    # the root box, B_eps's square, with every counted point undecided over it
    boxes = _OpenBoxes(np.full((1, 2), -eps, np.float64), np.full((1, 2), eps, np.float64),
                       np.zeros(1, np.int64), np.array([pts.size], np.int64),
                       np.zeros(pts.size, np.int64), pts)
    best, best_delta = 0, np.zeros(2, np.float64)
    root, spent = True, 0
    while boxes.lo.shape[0] and spent < max_pairs:
        c_lo, c_hi, c_parent, keep_box = _children(boxes, pair_budget, root=root)
        root = False
        ok = meets_ball(c_lo, c_hi, norm, eps)
        c_lo, c_hi, c_parent = c_lo[ok], c_hi[ok], c_parent[ok]
        n_c = c_lo.shape[0]
        boxes, q_box, q_pt = _inherited_pairs(boxes, c_parent, n_c)
        cand = box_candidate(c_lo, c_hi, norm, eps)
        lb, ub, flip = bound_boxes(program, x[q_pt], c_lo[q_box], c_hi[q_box], cand[q_box],
                                   pred[q_pt], norm=norm, eps=eps)
        spent += q_box.size
        sure_now = ub < -MARGIN
        open_ = ~(lb > MARGIN) & ~sure_now
        c_sure = boxes.sure[c_parent] + np.bincount(q_box[sure_now], minlength=n_c)
        c_und = np.bincount(q_box[open_], minlength=n_c)
        c_lb = c_sure + np.bincount(q_box[open_ & flip], minlength=n_c)
        c_ub = c_sure + c_und
        j = int(np.argmax(c_lb)) if n_c else 0
        if n_c and c_lb[j] > best:
            best, best_delta = int(c_lb[j]), cand[j]
        children = _OpenBoxes(c_lo, c_hi, c_sure, c_ub, q_box, q_pt)
        boxes = _pruned(boxes, keep_box, children, c_und, open_, beat=best + slack)
    hi = max(best, int(boxes.ub.max()) if boxes.ub.size else best)
    return Universal(best, hi, best_delta.astype(np.float32), np.zeros(x.shape[0], bool),
                     spent, hi <= best + slack)


class _OpenBoxes(NamedTuple):
    """The branch-and-bound's state: boxes of delta-space still open, and their undecided
    (box, point) pairs. Kept as parallel arrays so each step bounds all its pairs in one
    call of the engine."""

    lo: np.ndarray          # f64[B, 2] corners
    hi: np.ndarray          # f64[B, 2]
    sure: np.ndarray        # i64[B] points proven flipped over the whole box
    ub: np.ndarray          # i64[B] upper bound: sure + undecided
    pair_box: np.ndarray    # i64[P] the box of each undecided pair
    pair_pt: np.ndarray     # i64[P] the point of each undecided pair


def _children(boxes: _OpenBoxes, pair_budget: int, *, root: bool):
    """The boxes this step bounds: ``(lo, hi, parent, keep)``.

    The root is bounded as a box of its own before any split (its bound may already
    decide). Later steps quarter the boxes of highest upper bound first, as many as fit
    ``pair_budget`` pairs (at least one, so the search always moves); ``keep`` marks the
    boxes left unsplit, which stay open as they are.
    """
    if root:
        return boxes.lo, boxes.hi, np.zeros(1, np.int64), np.zeros(1, bool)
    n = boxes.lo.shape[0]
    cost = np.bincount(boxes.pair_box, minlength=n) * 4
    order = np.argsort(-boxes.ub, kind="stable")
    take = np.cumsum(cost[order]) <= pair_budget
    take[0] = True
    sel = np.zeros(n, bool)
    sel[order[take]] = True
    q_lo, q_hi = quarter(boxes.lo[sel], boxes.hi[sel])
    return q_lo, q_hi, np.tile(np.flatnonzero(sel), 4), ~sel


def _inherited_pairs(boxes: _OpenBoxes, c_parent, n_c: int):
    """Every undecided pair of a parent, once per child: ``(boxes, q_box, q_pt)``.

    A point undecided over a box may be decided over each quarter, so each child starts
    with all its parent's pairs. The returned ``boxes`` has its pairs sorted by box (the
    children's pairs are cut from contiguous runs); pruning reads them in that order.
    """
    order = np.argsort(boxes.pair_box, kind="stable")
    p_box, p_pt = boxes.pair_box[order], boxes.pair_pt[order]
    starts = np.searchsorted(p_box, np.arange(boxes.lo.shape[0] + 1))
    counts = starts[1:] - starts[:-1]
    cnt = counts[c_parent]
    q_box = np.repeat(np.arange(n_c), cnt)
    offs = np.arange(q_box.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    q_pt = p_pt[starts[c_parent][q_box] + offs]
    return boxes._replace(pair_box=p_box, pair_pt=p_pt), q_box, q_pt


def _pruned(boxes: _OpenBoxes, keep_box, children: _OpenBoxes, c_und, open_, *,
            beat: int) -> _OpenBoxes:
    """The boxes still open after a step: the unsplit ones and the children whose upper
    bound exceeds ``beat`` (the best count plus the slack) and that have an undecided
    point left; box ids renumbered, the unsplit boxes first, then the children.

    A box that cannot beat the best is dropped for good: no delta inside it flips more.
    ``children.pair_box`` holds every child pair; only the ``open_`` ones stay.
    """
    keep_old = keep_box & (boxes.ub > beat)
    keep_new = (children.ub > beat) & (c_und > 0)
    old_ids = np.full(boxes.lo.shape[0], -1, np.int64)
    old_ids[keep_old] = np.arange(int(keep_old.sum()))
    new_ids = np.full(children.lo.shape[0], -1, np.int64)
    new_ids[keep_new] = int(keep_old.sum()) + np.arange(int(keep_new.sum()))
    old_pairs = keep_old[boxes.pair_box]
    new_pairs = open_ & keep_new[children.pair_box]
    return _OpenBoxes(
        np.concatenate([boxes.lo[keep_old], children.lo[keep_new]]),
        np.concatenate([boxes.hi[keep_old], children.hi[keep_new]]),
        np.concatenate([boxes.sure[keep_old], children.sure[keep_new]]),
        np.concatenate([boxes.ub[keep_old], children.ub[keep_new]]),
        np.concatenate([old_ids[boxes.pair_box[old_pairs]],
                        new_ids[children.pair_box[new_pairs]]]),
        np.concatenate([boxes.pair_pt[old_pairs], children.pair_pt[new_pairs]]))


def pointwise_search(program: Program, x, pred, counted, *, norm: str, eps: float, witnessed=None,
                     allowed: int = 0, max_levels: int = MAX_LEVELS, max_boxes: int = 4096):
    """Per point: a witness flip inside B_eps, a certificate over it, or neither.

    Args:
      program, x, pred, counted: as in :func:`universal_search`.
      norm, eps: the ball.
      witnessed: ``bool[n]`` points already known to flip (their search is skipped).
      allowed: stop once at most this many points are undecided.
      max_levels: rounds of splitting each undecided box in four.
      max_boxes: most open boxes of one point; beyond, it stays undecided.

    Returns:
      ``(witness bool[n], certified bool[n], delta f32[n, 2], boxes i64[n])``: the
      witness deltas (zero where none) are not yet re-checked on ``logits_fn``; the boxes
      bounded per point.
    """
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    witness = np.zeros(n, bool) if witnessed is None else np.asarray(witnessed, bool).copy()
    delta = np.zeros((n, 2), np.float32)
    failed = np.zeros(n, bool)
    boxes = np.zeros(n, np.int64)
    owner = np.flatnonzero(counted & ~witness)
    lo = np.full((owner.size, 2), -eps, np.float64)
    hi = np.full((owner.size, 2), eps, np.float64)
    for level in range(max_levels + 1):
        keep = meets_ball(lo, hi, norm, eps) & ~witness[owner]
        owner, lo, hi = owner[keep], lo[keep], hi[keep]
        if owner.size == 0:
            break
        cand = box_candidate(lo, hi, norm, eps)
        np.add.at(boxes, owner, 1)
        lb, ub, flip, flip_c, corner = bound_boxes(program, x[owner], lo, hi, cand, pred[owner],
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
    return witness & counted, certified, delta, boxes


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


def random_search(program: Program, x, pred, counted, *, norm: str, eps: float, width: float,
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
        lb, ub, _ = bound_boxes(program, x[owner], lo, hi, mid, pred[owner], norm=norm, eps=eps)
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


__all__ = ["MAX_LEVELS", "Universal", "box_candidate", "in_ball", "meets_ball", "pointwise_search", "quarter",
           "random_search", "universal_search"]
