"""The four fractions computed exactly (to a stated resolution) in the plane.

One radial scan evaluates the classifier at ``x_i + t_k u_j`` for every point ``i``,
every direction ``u_j`` on the unit p-sphere (uniform in arc length) and every radius
``t_k`` of a grid up to ``eps_max``. From that single table of label flips:

- ``rho`` (distance to the nearest boundary) by ray casting: the first flip along
  every ray, refined by bisection, then by a finer fan of directions around the best;
  under linf, of the minimal perturbations (a corner of the square, or a stretch of an
  edge where the boundary runs along an axis) ``r`` is the one of least l2 length;
- ``random(t_k)`` by quadrature over the sphere (the mean over directions);
- ``universal(t_k)`` as the best polar-grid delta of radius <= t_k;

so one scan gives whole curves over eps. :func:`exact_at` then sharpens the values at
one eps: ``random`` on the ring of radius exactly eps, ``universal`` by a
coarse-to-fine search over a grid of ``B_eps`` around the best candidates.

Resolution: radial ``eps_max / n_radii / 2**(coarse_iters + bisect_iters)``; angular ``1 / n_dirs`` of
the sphere, then a fan of ``2 * fan + 1`` rays spanning one step; universal to
``step / 2**refine_levels`` around the best candidates. For linf, the four corners of
the square are rays and universal candidates too: the square B_eps often meets a
boundary first with a corner (where PGD's sign steps also end), and no ray of the
arc-length grid points exactly there.

Every value is a fraction of the correctly classified points of D, and the
invariant ``random <= universal <= pointwise`` holds by construction: each random
direction is a universal candidate, and every flip a universal delta causes is a
witness that the point's ``rho <= eps``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> logits_fn = lambda x: jnp.stack([x[:, 1], -x[:, 1]], 1)  # boundary y = 0
    >>> x = jnp.array([[0.0, 0.05], [0.0, 0.5]]); y = jnp.array([0, 0])
    >>> prof = scan_profile(jax.tree_util.Partial(logits_fn), x, y, norm="2", eps_max=0.2)
    >>> [round(float(r), 3) for r in prof.rho]
    [0.05, inf]
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from attacks import lp_norm, parse_norm, project
from categories.raycast import (fan_crossings, first_crossings, least_l2_minimal, predict_points,
                               sphere_point)


class Profile(NamedTuple):
    """Curves over eps from one scan (arrays over the radius grid ``radii``)."""

    radii: jax.Array        # f32[T]     the eps grid
    robust: jax.Array       # f32[T]
    pointwise: jax.Array    # f32[T]
    universal: jax.Array    # f32[T]     best polar-grid delta of radius <= t
    random: jax.Array       # f32[T]     quadrature over the sphere of radius t
    universal_delta: jax.Array  # f32[T, 2] the delta achieving universal[k]
    rho: jax.Array          # f32[n]     distance to the nearest boundary (inf: > eps_max)
    r: jax.Array            # f32[n, 2]  the minimal perturbation (0 where rho is inf; l-inf:
                            #            the shortest in l2 of the minimal ones)
    correct: jax.Array      # bool[n]    f(x) == y: the points the fractions count
    pred: jax.Array         # i32[n]     f(x)
    flips: jax.Array        # f32[M, T]  fooling fraction of each polar-grid delta
    dirs: jax.Array         # f32[M, 2]  the unit directions of the scan
    clean_accuracy: jax.Array  # f32[]


class Fractions(NamedTuple):
    """The four fractions at one eps, with the universal maximiser."""

    eps: jax.Array
    robust: jax.Array
    pointwise: jax.Array
    universal: jax.Array
    random: jax.Array
    universal_delta: jax.Array  # f32[2]
    universal_fooled: jax.Array  # bool[n] points the universal delta flips
    clean_accuracy: jax.Array


def _share(flags, correct):
    """Fraction of the correct points whose flag is set, along the last axis.

    Counts are summed as exact integers before the one division, so a share of all
    points is exactly 1 (no -0.0 robust from rounding).
    """
    c = correct.astype(jnp.float32)
    return (flags.astype(jnp.float32) @ c) / jnp.maximum(c.sum(), 1.0)


@functools.partial(jax.jit, static_argnames=("norm", "n_radii", "n_dirs", "top_k", "fan",
                                             "coarse_iters", "bisect_iters"))
def _scan(logits_fn, x, y, eps_max, *, norm, n_radii, n_dirs, top_k, fan, coarse_iters,
          bisect_iters):
    n = x.shape[0]
    pred = predict_points(logits_fn, x)
    correct = pred == y
    radii = eps_max * jnp.arange(1, n_radii + 1, dtype=jnp.float32) / n_radii
    s = (jnp.arange(n_dirs, dtype=jnp.float32) + 0.5) / n_dirs
    if norm == "inf":
        # The square B_eps often first meets a boundary with a corner (where PGD's sign steps
        # also end), and no ray of the arc-length grid points exactly there: rho's rays
        # include the four corners (s = k / 4); the curves use the grid's M rays only.
        s_rays = jnp.concatenate([s, jnp.arange(4, dtype=jnp.float32) / 4])
    else:
        s_rays = s
    rays = sphere_point(norm, s_rays)                              # [M (+4), 2]
    dirs = rays[:n_dirs]                                           # [M, 2]
    pts = x[:, None, None, :] + radii[None, None, :, None] * rays[None, :, None, :]
    flips_all = (predict_points(logits_fn, pts.reshape(-1, 2)).reshape(n, rays.shape[0], n_radii)
                 != pred[:, None, None])                           # [n, M (+4), T]
    frac, random, universal, universal_delta = _curves(flips_all[:, :n_dirs], correct, radii,
                                                       dirs)
    rho, s_best = first_crossings(logits_fn, x, pred, flips_all, rays, s_rays, radii,
                                   top_k=top_k, coarse_iters=coarse_iters,
                                   bisect_iters=bisect_iters)
    rho, u_best, s_u = fan_crossings(logits_fn, x, pred, rho, s_best, norm=norm, n_dirs=n_dirs, fan=fan,
                            bisect_iters=bisect_iters)
    r = jnp.where(jnp.isfinite(rho)[:, None], rho[:, None] * u_best, 0.0)
    if norm == "inf":
        res = eps_max / n_radii / 2.0 ** (coarse_iters + bisect_iters)
        r = least_l2_minimal(logits_fn, x, pred, rho, r, s_u, 2 * res, bisect_iters)

    pointwise = _share(rho[None, :] <= radii[:, None], correct)
    return Profile(radii=radii, robust=1.0 - pointwise, pointwise=pointwise, universal=universal,
                   random=random, universal_delta=universal_delta, rho=rho, r=r,
                   correct=correct, pred=pred, flips=frac, dirs=dirs,
                   clean_accuracy=correct.mean())


def _curves(flips, correct, radii, dirs):
    """The random and universal curves from the polar grid's flips: quadrature over the
    sphere, and the best grid delta at each radius kept from the radius it was best at.

    Args:
      flips: ``bool[n, M, T]``, whether point, ray and radius change the label.
      correct: ``bool[n]``; radii: ``f32[T]``; dirs: ``f32[M, 2]`` the rays.

    Returns:
      ``(frac f32[M, T], random f32[T], universal f32[T], universal_delta f32[T, 2])``.
    """
    frac = _share(jnp.moveaxis(flips, 0, -1), correct)           # [M, T]
    random = frac.mean(0)
    best_j = frac.argmax(0)
    best_at_t = frac.max(0)
    run_k = jax.lax.associative_scan(
        lambda a, b: jnp.where(best_at_t[b] >= best_at_t[a], b, a), jnp.arange(radii.shape[0]))
    universal = best_at_t[run_k]
    universal_delta = radii[run_k, None] * dirs[best_j[run_k]]
    return frac, random, universal, universal_delta


def scan_profile(logits_fn, x, y, *, norm, eps_max, n_radii: int = 24, n_dirs: int = 64,
                 top_k: int = 4, fan: int = 3, coarse_iters: int = 5,
                 bisect_iters: int = 12) -> Profile:
    """Computes the curves of the four fractions over ``(0, eps_max]`` in one scan.

    Args:
      logits_fn: pytree classifier ``f32[n, 2] -> f32[n, classes]``.
      x: ``f32[n, 2]`` points of D; y: ``i32[n]`` their true labels.
      norm: 2 or inf (anything :func:`attacks.norms.parse_norm` takes).
      eps_max: the largest eps of the curves.
      n_radii, n_dirs: the scan's grid (radii ``eps_max * k / n_radii``).
      top_k: rays per point refined finely; fan: extra rays on each side of the best.
      coarse_iters: bisection steps on every ray that flips, to rank the rays.
      bisect_iters: further steps on the top_k rays (radial resolution
        ``eps_max / n_radii / 2**(coarse_iters + bisect_iters)``).

    Returns:
      A :class:`Profile`.
    """
    logits_fn = _as_pytree(logits_fn)
    return _scan(logits_fn, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32),
                 jnp.float32(eps_max), norm=parse_norm(norm), n_radii=n_radii, n_dirs=n_dirs,
                 top_k=min(top_k, n_dirs), fan=fan, coarse_iters=coarse_iters,
                 bisect_iters=bisect_iters)


@functools.partial(jax.jit, static_argnames=("norm", "candidates", "grid", "levels"))
def _at(logits_fn, x, profile, eps, *, norm, candidates, grid, levels):
    n = x.shape[0]
    pred, correct = profile.pred, profile.correct
    dirs = profile.dirs
    m = dirs.shape[0]

    def fooled(deltas):  # deltas [C, 2] -> bool [C, n]
        pts = x[None, :, :] + deltas[:, None, :]
        return predict_points(logits_fn, pts.reshape(-1, 2)).reshape(deltas.shape[0], n) != pred[None]

    ring = eps * dirs
    ring_frac = _share(fooled(ring), correct)                         # [M]
    random = ring_frac.mean()
    if norm == "inf":  # B_eps's corners, where no ray of the scan points (not in random's mean)
        corner = eps * jnp.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
        ring = jnp.concatenate([ring, corner])
        ring_frac = jnp.concatenate([ring_frac, _share(fooled(corner), correct)])
    inside = profile.radii <= eps
    grid_frac = jnp.where(inside[None, :], profile.flips, -1.0)      # [M, T]
    grid_delta = profile.radii[None, :, None] * dirs[:, None, :]      # [M, T, 2]
    cand_frac = jnp.concatenate([ring_frac, grid_frac.reshape(-1)])
    cand_delta = jnp.concatenate([ring, grid_delta.reshape(-1, 2)])
    _, top = jax.lax.top_k(cand_frac, candidates)
    centers = cand_delta[top]                                        # [C, 2]
    offs = jnp.linspace(-1.0, 1.0, grid)
    offs = jnp.stack(jnp.meshgrid(offs, offs), -1).reshape(-1, 2)     # [G*G, 2]
    h0 = jnp.maximum(2 * jnp.pi * eps / m, profile.radii[0])

    def refine(level, centers):
        h = h0 / (2.0 ** level)
        d = centers[:, None, :] + h * offs[None]                      # [C, G*G, 2]
        d = project(d.reshape(-1, 2), norm, eps)
        f = _share(fooled(d), correct).reshape(candidates, -1)
        return d.reshape(candidates, -1, 2)[jnp.arange(candidates), f.argmax(1)]

    centers = jax.lax.fori_loop(0, levels, refine, centers)
    final = fooled(centers)
    final_frac = _share(final, correct)
    b = final_frac.argmax()
    universal, delta, fooled_by = final_frac[b], centers[b], final[b]
    pointwise = _share((profile.rho <= eps) | fooled_by, correct)
    return Fractions(eps=eps, robust=1.0 - pointwise, pointwise=pointwise, universal=universal,
                     random=random, universal_delta=delta, universal_fooled=fooled_by & correct,
                     clean_accuracy=profile.clean_accuracy)


def exact_at(logits_fn, x, profile: Profile, *, norm, eps, candidates: int = 4, grid: int = 5,
             levels: int = 4) -> Fractions:
    """The four fractions at one ``eps`` (at most the profile's ``eps_max``).

    ``random`` is the quadrature over the sphere of radius exactly eps; ``universal``
    is a coarse-to-fine search over B_eps: the best ``candidates`` deltas of the scan's
    polar grid and of the eps ring, each refined ``levels`` times on a ``grid x grid``
    local grid of halving step (projected onto B_eps).

    Args:
      logits_fn: the classifier the profile was scanned on.
      x: ``f32[n, 2]`` the profile's points.
      profile: from :func:`scan_profile` with the same norm.
      norm: 2 or inf.
      eps: the radius.

    Returns:
      :class:`Fractions`.
    """
    logits_fn = _as_pytree(logits_fn)
    return _at(logits_fn, jnp.asarray(x, jnp.float32), profile, jnp.float32(eps),
               norm=parse_norm(norm), candidates=candidates, grid=grid, levels=levels)


def exact_fractions(logits_fn, x, y, *, norm, eps, candidates: int = 4, grid: int = 5,
                    levels: int = 4, **scan_kwargs) -> Fractions:
    """Scans up to ``eps`` and returns the four exact fractions at ``eps``.

    Every resolution parameter reaches its function: ``candidates``, ``grid`` and
    ``levels`` go to :func:`exact_at`, the rest (``n_radii``, ``n_dirs``, ...) to
    :func:`scan_profile`.
    """
    profile = scan_profile(logits_fn, x, y, norm=norm, eps_max=eps, **scan_kwargs)
    return exact_at(logits_fn, x, profile, norm=norm, eps=eps, candidates=candidates, grid=grid,
                    levels=levels)


def _as_pytree(logits_fn):
    if isinstance(logits_fn, jax.tree_util.Partial):
        return logits_fn
    return jax.tree_util.Partial(logits_fn)


__all__ = ["Profile", "Fractions", "sphere_point", "scan_profile", "exact_at",
           "exact_fractions", "lp_norm"]
