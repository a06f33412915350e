"""Ray casting in the plane: points of the unit p-sphere, and the distance from each point
to the nearest boundary found along rays by bisection.

:mod:`categories.exact2d` scans a polar grid of label flips; the functions here turn its
first flips into ``rho`` (each point's distance to a boundary) and the minimal
perturbation ``r``, all traced inside its jitted scan.

Example:
    >>> import jax.numpy as jnp
    >>> [round(float(c), 3) for c in sphere_point("inf", jnp.array(0.125))]  # an edge's middle
    [1.0, 0.0]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from toymodels import predict_in_chunks

__all__ = ["bisect", "fan_crossings", "first_crossings", "least_l2_minimal", "predict_points",
           "sphere_point"]


def sphere_point(norm: str, s: jax.Array) -> jax.Array:
    """Maps ``s`` in [0, 1) (arc-length parameter) to a point of the unit p-sphere.

    Args:
      norm: ``"2"`` or ``"inf"``.
      s: ``f32[...]``, taken modulo 1.

    Returns:
      ``f32[..., 2]`` with ``|u|_p = 1``; uniform ``s`` gives the uniform law on S_1.
    """
    s = jnp.mod(s, 1.0)
    if norm == "2":
        a = 2 * jnp.pi * s
        return jnp.stack([jnp.cos(a), jnp.sin(a)], -1)
    p = 8 * s
    side = jnp.floor(p / 2)
    t = p - 2 * side - 1  # in [-1, 1)
    one = jnp.ones_like(t)
    cands = jnp.stack([jnp.stack([one, t], -1), jnp.stack([-t, one], -1),
                       jnp.stack([-one, -t], -1), jnp.stack([t, -one], -1)], 0)
    idx = jnp.clip(side.astype(jnp.int32), 0, 3)
    return jnp.take_along_axis(cands, idx[None, ..., None], axis=0)[0]


def predict_points(logits_fn, pts, chunk=1 << 17):
    """argmax of logits over ``pts: f32[m, 2]`` in memory-bounded chunks."""
    return predict_in_chunks(logits_fn, pts, chunk=chunk)


def bisect(logits_fn, x, label, u, lo, hi, iters):
    """Shrinks [lo, hi] along rays x + t u, keeping f(x + hi u) != label."""

    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        pts = jnp.broadcast_to(x + mid[..., None] * u, mid.shape + (2,))
        flip = predict_points(logits_fn, pts.reshape(-1, 2)).reshape(mid.shape) != label
        return jnp.where(flip, lo, mid), jnp.where(flip, mid, hi)

    return jax.lax.fori_loop(0, iters, body, (lo, hi))


def first_crossings(logits_fn, x, pred, flips_all, rays, s_rays, radii, *, top_k,
                     coarse_iters, bisect_iters):
    """rho: the first flip along every ray, bisected coarsely, then the top_k best finely
    (a fine bisection of every ray would cost M times more for the same minimum).

    Args:
      logits_fn, x, pred: the classifier, the points and their predictions.
      flips_all: ``bool[n, M (+4), T]`` on every ray; rays, s_rays: the rays and their
        arc-length parameters; radii: ``f32[T]``.
      top_k, coarse_iters, bisect_iters: the search's budget.

    Returns:
      ``(rho f32[n], s_best f32[n])``: the distance (``inf`` without a flip) and the ray.
    """
    n = x.shape[0]
    hit_all = flips_all.any(-1)
    first = jnp.where(hit_all, flips_all.argmax(-1), 0)              # [n, M (+4)]
    hi0 = jnp.where(hit_all, radii[first], radii[-1])
    lo0 = jnp.where(first > 0, radii[jnp.maximum(first - 1, 0)], 0.0)
    lbl = pred[:, None]
    lo0, hi0 = bisect(logits_fn, x[:, None, :], lbl, rays[None], lo0, hi0, coarse_iters)
    neg, j = jax.lax.top_k(-jnp.where(hit_all, hi0, jnp.inf), top_k)
    hit = jnp.isfinite(neg)
    u = rays[j]                                                     # [n, K, 2]
    lo = jnp.take_along_axis(lo0, j, 1)
    hi = jnp.take_along_axis(hi0, j, 1)
    _, hi = bisect(logits_fn, x[:, None, :], lbl, u, lo, hi, bisect_iters)
    hi = jnp.where(hit, hi, jnp.inf)
    best = hi.argmin(1)
    rho = hi[jnp.arange(n), best]
    return rho, s_rays[j[jnp.arange(n), best]]


def fan_crossings(logits_fn, x, pred, rho, s_best, *, norm, n_dirs, fan, bisect_iters):
    """2*fan rays within one direction step of the best, scanned up to rho: the boundary's
    nearest point can fall between two rays of the grid.

    Args:
      logits_fn, x, pred: the classifier, the points and their predictions.
      rho, s_best: the grid's distances and best rays (:func:`first_crossings`).
      norm, n_dirs, fan, bisect_iters: static settings of the scan.

    Returns:
      ``(rho, u_best f32[n, 2], s_u)``: rho lowered where a fan ray is nearer, the unit
      direction of the nearest crossing, and (``inf`` norm only, else None) its parameter.
    """
    n = x.shape[0]
    lbl = pred[:, None]
    offs = jnp.concatenate([jnp.arange(-fan, 0), jnp.arange(1, fan + 1)]).astype(jnp.float32)
    offs = offs / (2 * fan * n_dirs)
    uf = sphere_point(norm, s_best[:, None] + offs[None, :])       # [n, F, 2]
    steps = 4
    tf = jnp.where(jnp.isfinite(rho), rho, 0.0)[:, None, None] * (
        jnp.arange(1, steps + 1, dtype=jnp.float32) / steps)[None, None, :]   # [n, 1, S]
    pf = x[:, None, None, :] + tf[..., None] * uf[:, :, None, :]
    ff = predict_points(logits_fn, pf.reshape(-1, 2)).reshape(n, 2 * fan, steps) != pred[:, None, None]
    kf = ff.argmax(-1)
    fhit = ff.any(-1) & jnp.isfinite(rho)[:, None]
    fhi = jnp.take_along_axis(jnp.broadcast_to(tf, (n, 2 * fan, steps)), kf[..., None], -1)[..., 0]
    flo = jnp.where(kf > 0, fhi - tf[:, :, 0], 0.0)
    _, fhi = bisect(logits_fn, x[:, None, :], lbl, uf, flo, fhi, bisect_iters)
    fhi = jnp.where(fhit, fhi, jnp.inf)
    better = fhi.min(1) < rho
    fbest = fhi.argmin(1)
    u_best = jnp.where(better[:, None], uf[jnp.arange(n), fbest], sphere_point(norm, s_best))
    s_u = jnp.where(better, s_best + offs[fbest], s_best) if norm == "inf" else None
    return jnp.minimum(rho, fhi.min(1)), u_best, s_u


SQUARE_SAMPLES = 128  # points of the square S_rho tried for the least-l2 minimal perturbation


def least_l2_minimal(logits_fn, x, pred, rho, r, s_u, slack, iters):
    """Among the minimal l-inf perturbations of each point, the one of least l2 length.

    The square B_rho meets the nearest boundary with a corner (then that corner is the
    one minimal perturbation) or, where the boundary runs along an axis, with a whole
    stretch of an edge: every point of it is minimal, and the arrow from a corner would
    suggest a diagonal move where a straight one crosses as well. On an edge the l2
    length grows with the distance ``|t|`` from the edge's middle, so: try the square
    ``S_{rho + slack}`` (``slack``: the scan's radial resolution) at SQUARE_SAMPLES points
    (corners and middles among them) and at the ray that found rho (``s_u``), take the
    flip nearest an edge's middle and bisect towards the next sample either side.

    Returns:
      ``f32[n, 2]``: the perturbation, ``r`` itself where nothing on the square flips.
    """
    n, k = x.shape[0], SQUARE_SAMPLES
    radius = jnp.where(jnp.isfinite(rho), rho + slack, 0.0)[:, None, None]

    def flips(s):  # s [n, c] -> bool [n, c]: x + radius u(s) changes the label
        pts = x[:, None, :] + radius * sphere_point("inf", s)
        return predict_points(logits_fn, pts.reshape(-1, 2)).reshape(s.shape) != pred[:, None]

    def off_middle(s):  # |t|: the distance along the edge from its middle (0) to a corner (1)
        p = 8 * jnp.mod(s, 1.0)
        return jnp.abs(p - 2 * jnp.floor(p / 2) - 1)

    s = jnp.concatenate([jnp.broadcast_to(jnp.arange(k) / k, (n, k)), s_u[:, None]], 1)
    hit = flips(s)
    s_c = jnp.take_along_axis(s, jnp.argmin(jnp.where(hit, off_middle(s), jnp.inf), 1)[:, None],
                              1)[:, 0]
    found = [s_c]
    for toward in (jnp.floor(s_c * k - 1e-3) / k, jnp.ceil(s_c * k + 1e-3) / k):
        def body(_, ends):         # keeps ``hi`` a flip, ``lo`` one sample closer in
            lo, hi = ends
            mid = 0.5 * (lo + hi)
            flip = flips(mid[:, None])[:, 0]
            return jnp.where(flip, lo, mid), jnp.where(flip, mid, hi)
        found.append(jax.lax.fori_loop(0, iters, body, (toward, s_c))[1])
    found = jnp.stack(found, 1)                                       # [n, 3]
    best = jnp.take_along_axis(found, jnp.argmin(off_middle(found), 1)[:, None], 1)[:, 0]
    better = hit.any(1) & (off_middle(best) < off_middle(s_u) - 1e-6)
    return jnp.where(better[:, None], radius[:, 0] * sphere_point("inf", best), r)
