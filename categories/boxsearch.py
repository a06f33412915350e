"""Bounds over boxes of the plane, and the certified universal optimum by branch-and-bound.

The bound (one jitted function of fixed-size chunks of boxes, so one compilation
serves every level, eps and model of the same architecture): for a box of inputs
``x0 + [dlo, dhi]`` and a label ``c``, sound lower and upper bounds of the margin
``m = min_{j != c} (z_c - z_j)``. Two domains run side by side and the tighter end
of each pre-activation interval is kept:

- intervals (IBP, :func:`categories.certify.activation_bounds`);
- a zonotope with the input's two generators (forward linear bounds in the style of
  DeepZ/CROWN, exact where every ReLU of the box is stable): each unit is
  ``c + G e + [-r, r]`` with ``e`` in ``[-1, 1]^2``. An unstable ReLU on ``[l, u]``
  becomes ``lam x + mu +- mu`` with ``lam = u / (u - l)``, ``mu = -lam l / 2``; tanh
  and sigmoid become ``lam x`` plus the range of the monotone ``f(x) - lam x``
  (``lam`` the smaller end slope); GELU falls back to its interval.

``m > 0`` over the box proves no input of it changes the label; ``m < 0`` that every
input does. Boxes are widened by :data:`SLACK` and a decision needs a margin beyond
:data:`MARGIN` (float32 rounding).

The universal optimum ``max_{delta in B_eps} #{i : f(x_i + delta) != f(x_i)}``: a
box ``Q`` of deltas has an upper bound (points not proven unflipped over
``x_i + Q``) and a lower bound (points a concrete delta of ``Q`` flips, by a forward
pass). Boxes are split in four, highest upper bound first; a box whose upper bound is
at most the best lower bound is pruned; the search stops when they meet.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from categories.certify import activation_bounds, mlp_layers

MARGIN = 1e-6   # a decided box needs a margin beyond this
SLACK = 1e-6    # boxes are widened by this against float32 rounding
CHUNKS = (512, 4096)  # the compiled batch sizes


def _act(name):
    from toymodels import ACTIVATIONS

    return ACTIVATIONS[name]


def _slope(name, t):
    if name == "tanh":
        return 1.0 - jnp.tanh(t) ** 2
    s = jax.nn.sigmoid(t)
    return s * (1.0 - s)


@functools.partial(jax.jit, static_argnames=("activation",))
def _kernel(layers, x0, dlo, dhi, dcand, label, eps, l2, *, activation):
    """Bounds of the margin over ``x0 + [dlo, dhi]``; flips at ``x0 + dcand`` and at the
    box's corner where the linear bound is lowest (projected onto B_eps)."""
    act = _act(activation)
    mu = x0 + 0.5 * (dlo + dhi)
    rad = 0.5 * (dhi - dlo) + SLACK
    zero = jnp.zeros_like(mu[:, 0])
    # the zonotope c + g0 e0 + g1 e1 + [-r, r] of every unit, e in [-1, 1]^2
    c, g0, g1, r = mu, jnp.stack([rad[:, 0], zero], 1), jnp.stack([zero, rad[:, 1]], 1), 0 * mu
    bsz = mu.shape[0]
    for w, b in layers[:-1]:
        lin = jnp.concatenate([c, g0, g1]) @ w
        c, g0, g1, r = lin[:bsz] + b, lin[bsz:2 * bsz], lin[2 * bsz:], r @ jnp.abs(w)
        span = jnp.abs(g0) + jnp.abs(g1) + r
        lo, hi = c - span, c + span
        if activation == "relu":
            on, off = lo >= 0, hi <= 0
            lam = jnp.where(on, 1.0, jnp.where(off, 0.0, hi / jnp.maximum(hi - lo, 1e-30)))
            shift = jnp.where(on | off, 0.0, -0.5 * lam * lo)
            c, g0, g1, r = lam * c + shift, lam * g0, lam * g1, lam * r + shift
        elif activation in ("tanh", "sigmoid"):
            lam = jnp.minimum(_slope(activation, lo), _slope(activation, hi))
            hl, hu = act(lo) - lam * lo, act(hi) - lam * hi
            c, g0, g1, r = lam * c + 0.5 * (hl + hu), lam * g0, lam * g1, lam * r + 0.5 * (hu - hl)
        else:  # gelu: its interval
            il, iu = activation_bounds(activation, lo, hi)
            c, g0, g1, r = 0.5 * (il + iu), 0 * g0, 0 * g1, 0.5 * (iu - il)
    w, b = layers[-1]
    lin = jnp.concatenate([c, g0, g1]) @ w

    def own(v):  # z_label - z_j for every class j
        return jnp.take_along_axis(v, label[:, None], 1) - v

    cz, gz0, gz1 = own(lin[:bsz] + b), own(lin[bsz:2 * bsz]), own(lin[2 * bsz:])
    dw = w.T[label][:, :, None] - w[None]                        # [B, units, classes]
    rz = jnp.abs(gz0) + jnp.abs(gz1) + jnp.einsum("bh,bhc->bc", r, jnp.abs(dw))
    own_ = jax.nn.one_hot(label, w.shape[1], dtype=jnp.bool_)
    low = jnp.where(own_, jnp.inf, cz - rz)
    up = jnp.where(own_, jnp.inf, cz + rz)
    lb, ub = low.min(1), up.min(1)
    j = low.argmin(1)
    gj = jnp.stack([jnp.take_along_axis(gz0, j[:, None], 1)[:, 0],
                    jnp.take_along_axis(gz1, j[:, None], 1)[:, 0]], 1)   # [B, 2]
    # the corner of the box where the linear bound of the weakest class is lowest
    corner = 0.5 * (dlo + dhi) - jnp.sign(gj) * 0.5 * (dhi - dlo)
    size = jnp.sqrt((corner ** 2).sum(1, keepdims=True))
    corner = jnp.where(l2, corner * jnp.minimum(1.0, eps * (1 - 1e-6) / jnp.maximum(size, 1e-30)),
                       jnp.clip(corner, -eps * (1 - 1e-6), eps * (1 - 1e-6)))

    def forward(z):
        for w_, b_ in layers[:-1]:
            z = act(z @ w_ + b_)
        w_, b_ = layers[-1]
        return (z @ w_ + b_).argmax(-1) != label

    return lb, ub, forward(x0 + dcand), forward(x0 + corner), corner


class Net(NamedTuple):
    """A plane MLP's weights, for :func:`bound_boxes`."""

    layers: tuple
    activation: str


def as_net(logits_fn) -> Net:
    """The weights of a toymodels MLP (``ValueError`` for any other classifier)."""
    return Net(*mlp_layers(logits_fn))


def bound_boxes(net: Net, x0, dlo, dhi, dcand, label, *, norm: str, eps: float,
                corners: bool = False):
    """Margin bounds and candidate flips of boxes ``x0 + [dlo, dhi]``, in fixed chunks.

    Args:
      net: from :func:`as_net`.
      x0, dlo, dhi, dcand: ``f32[B, 2]`` origins, box corners and a candidate delta.
      label: ``i32[B]`` the label to keep.
      norm, eps: the ball a corner candidate is projected onto.
      corners: also try each box's corner where the linear bound is lowest.

    Returns:
      ``(lb, ub, flip_at_cand)``, and with ``corners`` also ``flip_at_corner, corner``,
      as numpy arrays: ``lb > MARGIN`` proves no point of the box flips, ``ub < -MARGIN``
      that all do.
    """
    arrays = [np.asarray(a, np.float32) for a in (x0, dlo, dhi, dcand)] + \
        [np.asarray(label, np.int32)]
    n = arrays[0].shape[0]
    outs, start = [], 0
    while start < n:
        size = next((s for s in CHUNKS if s >= n - start), CHUNKS[-1])
        part = [a[start:start + size] for a in arrays]
        m = part[0].shape[0]
        if m < size:
            part = [np.concatenate([p, np.repeat(p[:1], size - m, 0)]) for p in part]
        res = _kernel(net.layers, *part, np.float32(eps), np.bool_(norm == "2"),
                      activation=net.activation)
        outs.append([np.asarray(r)[:m] for r in res[:5 if corners else 3]])
        start += size
    if not outs:
        e = np.zeros(0, np.float32)
        empty = (e, e, e.astype(bool))
        return empty + ((e.astype(bool), np.zeros((0, 2), np.float32)) if corners else ())
    return tuple(np.concatenate(col) for col in zip(*outs))


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


def universal_search(net: Net, x, pred, counted, *, norm: str, eps: float, slack: int = 0,
                     pair_budget: int = 16384, max_pairs: int = 4_000_000) -> Universal:
    """Branch-and-bound over boxes of delta-space (see the module docstring).

    Args:
      net: the MLP's weights. x: ``f32[n, 2]``; pred: ``i32[n]`` labels to keep;
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
    # open boxes: corners, sure count, upper bound; their undecided pairs (box id, point)
    b_lo = np.full((1, 2), -eps, np.float64)
    b_hi = np.full((1, 2), eps, np.float64)
    b_sure = np.zeros(1, np.int64)
    p_box, p_pt = np.zeros(pts.size, np.int64), pts
    best, best_delta = 0, np.zeros(2, np.float64)
    # the root is bounded as a box of its own before any split
    first = True
    b_ub = np.array([pts.size], np.int64)
    spent = 0
    while b_lo.shape[0] and spent < max_pairs:
        if first:
            sel = np.zeros(1, bool)
            c_lo, c_hi, c_parent = b_lo, b_hi, np.zeros(1, np.int64)
            keep_box = np.zeros(1, bool)
            first = False
        else:
            cost = np.bincount(p_box, minlength=b_lo.shape[0]) * 4
            order = np.argsort(-b_ub, kind="stable")
            take = np.cumsum(cost[order]) <= pair_budget
            take[0] = True
            sel = np.zeros(b_lo.shape[0], bool)
            sel[order[take]] = True
            q_lo, q_hi = quarter(b_lo[sel], b_hi[sel])
            k = int(sel.sum())
            c_parent = np.tile(np.flatnonzero(sel), 4)
            c_lo, c_hi = q_lo, q_hi
            keep_box = ~sel
        # children's pairs: every undecided pair of the parent, once per child
        ok = meets_ball(c_lo, c_hi, norm, eps)
        c_lo, c_hi, c_parent = c_lo[ok], c_hi[ok], c_parent[ok]
        n_c = c_lo.shape[0]
        order = np.argsort(p_box, kind="stable")
        p_box, p_pt = p_box[order], p_pt[order]
        starts = np.searchsorted(p_box, np.arange(b_lo.shape[0] + 1))
        counts = starts[1:] - starts[:-1]
        cnt = counts[c_parent]
        q_box = np.repeat(np.arange(n_c), cnt)
        offs = np.arange(q_box.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        q_pt = p_pt[starts[c_parent][q_box] + offs]
        cand = box_candidate(c_lo, c_hi, norm, eps)
        lb, ub, flip = bound_boxes(net, x[q_pt], c_lo[q_box], c_hi[q_box], cand[q_box],
                                         pred[q_pt], norm=norm, eps=eps)
        spent += q_box.size
        sure_now = ub < -MARGIN
        open_ = ~(lb > MARGIN) & ~sure_now
        c_sure = b_sure[c_parent] + np.bincount(q_box[sure_now], minlength=n_c)
        c_und = np.bincount(q_box[open_], minlength=n_c)
        c_lb = c_sure + np.bincount(q_box[open_ & flip], minlength=n_c)
        c_ub = c_sure + c_und
        j = int(np.argmax(c_lb)) if n_c else 0
        if n_c and c_lb[j] > best:
            best, best_delta = int(c_lb[j]), cand[j]
        # keep the unsplit boxes and the children that can still beat the best
        keep_old = keep_box & (b_ub > best + slack)
        keep_new = (c_ub > best + slack) & (c_und > 0)
        old_ids = np.full(b_lo.shape[0], -1, np.int64)
        old_ids[keep_old] = np.arange(int(keep_old.sum()))
        new_ids = np.full(n_c, -1, np.int64)
        new_ids[keep_new] = int(keep_old.sum()) + np.arange(int(keep_new.sum()))
        old_pairs = keep_old[p_box]
        new_pairs = open_ & keep_new[q_box]
        p_box = np.concatenate([old_ids[p_box[old_pairs]], new_ids[q_box[new_pairs]]])
        p_pt = np.concatenate([p_pt[old_pairs], q_pt[new_pairs]])
        b_lo = np.concatenate([b_lo[keep_old], c_lo[keep_new]])
        b_hi = np.concatenate([b_hi[keep_old], c_hi[keep_new]])
        b_sure = np.concatenate([b_sure[keep_old], c_sure[keep_new]])
        b_ub = np.concatenate([b_ub[keep_old], c_ub[keep_new]])
    hi = max(best, int(b_ub.max()) if b_ub.size else best)
    return Universal(best, hi, best_delta.astype(np.float32), np.zeros(x.shape[0], bool),
                     spent, hi <= best + slack)


__all__ = ["MARGIN", "SLACK", "Net", "Universal", "as_net", "bound_boxes", "box_candidate",
           "in_ball", "meets_ball", "quarter", "universal_search"]
