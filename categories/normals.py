"""How correlated the orientations of the decision boundaries near D are.

The boundary normal at a point I of D is ``n(I) = r(I) / |r(I)|_2``, where ``r(I)`` is
the minimal perturbation that changes the label (exact in 2D from
:func:`categories.exact2d.scan_profile`, DeepFool in any dimension). Stacking the
normals of m points as the columns of ``N`` (d x m), its singular values say whether
they share a few directions (the paper's explanation of universal perturbations,
the essay's "correlated tangents"): compared with the singular values of m random
unit vectors of R^d drawn from the same key, a fast decay means correlated normals.

In 2D the summary is ``sigma_2 / sigma_1``: near 0 when all normals lie along one line
(pancakes), near 1 when they point all around (wrinkles, and random unit vectors,
whose ratio is ``1 - O(1/sqrt(m))``).

Sign convention: ``r`` points from I towards its nearest boundary, so in pancakes
(D just below the top of its band) every normal points up, in wrinkles (D hugging
each ring from inside) outward or inward all around. The singular values depend on
``N N^T = sum_i n_i n_i^T`` only, which does not change when any normal flips sign:
they measure correlated *orientations* (lines), not directions. Normals pointing
``+u`` for half the points and ``-u`` for the others give ``sigma_2/sigma_1 = 0`` even
though no single delta pushes both halves across. ``alignment = |mean n|_2`` is the
directional statistic beside it (1: all the same way, 0: balanced), and the polar
histogram of the angles shows the directions themselves.

Example:
    >>> import jax, jax.numpy as jnp
    >>> r = jnp.array([[0.0, 0.1], [0.0, -0.2], [0.01, 0.3]])  # (almost) one line
    >>> s = normal_spectrum(r, jax.random.key(0))
    >>> float(s.sigma_ratio) < 0.05, round(float(s.alignment), 2)
    (True, 0.33)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import deepfool_steps
from attacks import as_logits_fn, predict
from attacks import parse_norm


class NormalSpectrum(NamedTuple):
    """The singular values of the stacked normals against random unit vectors."""

    normals: jax.Array          # f32[n, *shape] unit rows (zero rows where not valid)
    valid: jax.Array            # bool[n] points whose normal counts
    count: int                  # m, the number of valid normals
    singular: jax.Array         # f32[k] singular values of N (d x m), descending, k = min(d, m)
    random_singular: jax.Array  # f32[k] the same for m random unit vectors of R^d
    sigma_ratio: float          # singular[1] / singular[0]
    random_sigma_ratio: float   # random_singular[1] / random_singular[0]
    alignment: float            # |mean of the valid normals|_2


def unit_normals(r, valid=None):
    """Normalises minimal perturbations to unit l2 normals.

    Args:
      r: ``f32[n, *shape]`` minimal perturbations (any dimension).
      valid: optional ``bool[n]``; rows with ``r = 0`` or non-finite entries are never valid.

    Returns:
      ``(normals f32[n, *shape], valid bool[n])``; invalid rows are zero.
    """
    r = jnp.asarray(r, jnp.float32)
    flat = r.reshape(r.shape[0], -1)
    size = jnp.sqrt(jnp.sum(flat * flat, axis=1))
    ok = jnp.isfinite(flat).all(1) & (size > 0)
    if valid is not None:
        ok = ok & jnp.asarray(valid, bool)
    n = jnp.where(ok[:, None], flat / jnp.where(ok, size, 1.0)[:, None], 0.0)
    return n.reshape(r.shape), ok


def singular_values(vectors) -> jax.Array:
    """The singular values of the matrix whose columns are ``vectors`` (rows here).

    Zero rows do not change them. When one side is much longer than the other (images:
    d >> m) they come from the eigenvalues of the small Gram matrix.

    Args:
      vectors: ``f32[m, *shape]``.

    Returns:
      ``f32[min(m, d)]`` in descending order.
    """
    v = jnp.asarray(vectors, jnp.float32)
    v = v.reshape(v.shape[0], -1)
    m, d = v.shape
    if max(m, d) <= 4 * min(m, d) or max(m, d) <= 4096:
        # a full SVD (exact for the tiny sigma_2 of 2D normals); a long side of an image's
        # size would make it allocate d x d
        return jnp.linalg.svd(v, compute_uv=False)
    gram = v @ v.T if m < d else v.T @ v
    ev = jnp.linalg.eigvalsh(gram)[::-1]
    return jnp.sqrt(jnp.clip(ev, 0.0, None))


def random_unit_vectors(key, m: int, shape) -> jax.Array:
    """``m`` independent uniform unit vectors of R^d: ``f32[m, *shape]``."""
    g = jax.random.normal(key, (m,) + tuple(shape), jnp.float32)
    flat = g.reshape(m, -1)
    return (flat / jnp.linalg.norm(flat, axis=1, keepdims=True)).reshape(g.shape)


def _ratio(s) -> float:
    s = np.asarray(s, np.float64)
    if s.size < 2 or s[0] <= 0:
        return float("nan")
    return float(s[1] / s[0])


def normal_spectrum(r, key, *, valid=None) -> NormalSpectrum:
    """The spectrum of the boundary normals ``r / |r|`` against random unit vectors.

    Works in any dimension (2D points or images); the random baseline has as many unit
    vectors as there are valid normals, drawn from ``key``.

    Args:
      r: ``f32[n, *shape]`` minimal perturbations (exact, or DeepFool's).
      key: a ``jax.random.key`` for the random baseline.
      valid: optional ``bool[n]`` selecting the points whose normal counts.

    Returns:
      :class:`NormalSpectrum`.
    """
    normals, ok = unit_normals(r, valid)
    m = int(ok.sum())
    shape = normals.shape[1:]
    rnd = random_unit_vectors(key, normals.shape[0], shape)
    rnd = jnp.where(ok.reshape((-1,) + (1,) * len(shape)), rnd, 0.0)
    if m == 0:
        empty = jnp.zeros((0,), jnp.float32)
        return NormalSpectrum(normals, ok, 0, empty, empty, float("nan"), float("nan"),
                              float("nan"))
    k = min(m, int(np.prod(shape)))
    s = singular_values(normals)[:k]
    rs = singular_values(rnd)[:k]
    mean = normals.reshape(normals.shape[0], -1).sum(0) / m
    return NormalSpectrum(normals, ok, m, s, rs, _ratio(s), _ratio(rs),
                          float(jnp.linalg.norm(mean)))


def normal_angles(normals, valid=None) -> np.ndarray:
    """The angles (radians in (-pi, pi]) of the valid 2D normals: ``f64[m]``."""
    n = np.asarray(normals, np.float64)
    if n.ndim != 2 or n.shape[1] != 2:
        raise ValueError(f"angles are defined for 2D normals, got shape {n.shape}")
    ok = np.linalg.norm(n, axis=1) > 0
    if valid is not None:
        ok = ok & np.asarray(valid, bool)
    return np.arctan2(n[ok, 1], n[ok, 0])


def exact_minimal_perturbations(logits_fn, x, y, *, norm="2", radius: float = 1.0):
    """The exact 2D minimal perturbations of the correctly classified points.

    Args:
      logits_fn: pytree classifier of the plane.
      x: ``f32[n, 2]``; y: ``i32[n]``.
      norm: the norm r is minimal in (2 gives the geometric normal).
      radius: the scan's reach; points with no boundary within it have no normal.

    Returns:
      ``(r f32[n, 2], valid bool[n], rho f32[n])``.
    """
    from categories.exact2d import scan_profile

    prof = scan_profile(logits_fn, x, y, norm=parse_norm(norm), eps_max=radius)
    valid = prof.correct & jnp.isfinite(prof.rho)
    return prof.r, valid, prof.rho


@functools.partial(jax.jit, static_argnames=("norm", "top_k", "max_iter"))
def deepfool_flips(logits_fn, x, *, norm: str = "2", top_k: int = 10, max_iter: int = 50):
    """One batch of DeepFool's minimal perturbations, jitted (any dimension).

    One forward pass gives ``f(x)`` and DeepFool's first linearisation.

    Args:
      logits_fn: pytree classifier ``f32[n, *shape] -> f32[n, classes]``.
      x: ``f32[n, *shape]``.
      norm: ``"2"`` or ``"inf"`` (parsed), static; top_k, max_iter: DeepFool's, static
        (``top_k`` is clipped to the number of classes).

    Returns:
      ``(r f32[n, *shape], flipped bool[n], pred i32[n])``: DeepFool's perturbation (overshoot
      0.02), whether it changes the label, and ``f(x)``.
    """
    logits = logits_fn(x)
    pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    r = deepfool_steps(logits_fn, x, pred, jnp.asarray(0.02, x.dtype), norm=norm,
                       top_k=min(top_k, logits.shape[-1]), max_iter=max_iter, logits=logits)
    return r, predict(logits_fn, x + r) != pred, pred


def deepfool_minimal_perturbations(logits_fn, x, labels=None, *, norm="2", top_k: int = 10,
                                   max_iter: int = 50, batch_size: int | None = None):
    """DeepFool's minimal perturbations, in any dimension (images included).

    Args:
      logits_fn: pytree classifier ``f32[n, *shape] -> f32[n, classes]``.
      x: ``f32[n, *shape]``.
      labels: ``i32[n]`` true labels; only the points classified correctly count
        (``None``: every point counts, relative to f(x)).
      norm: 2 (the geometric normal) or inf.
      top_k, max_iter: DeepFool's candidate classes and iterations.
      batch_size: points per DeepFool call (default: all at once; images need small ones).

    Returns:
      ``(r f32[n, *shape], valid bool[n])``: valid where DeepFool did change the label.
    """
    logits_fn = as_logits_fn(logits_fn)
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    step = n if not batch_size else int(batch_size)
    rs, oks = [], []
    for start in range(0, n, max(step, 1)):
        r, ok, pred = deepfool_flips(logits_fn, x[start:start + step], norm=parse_norm(norm),
                                     top_k=top_k, max_iter=max_iter)
        if labels is not None:
            ok = ok & (pred == jnp.asarray(labels)[start:start + step])
        rs.append(r)
        oks.append(ok)
    return jnp.concatenate(rs), jnp.concatenate(oks)


def spectrum_curve(spec: NormalSpectrum) -> dict:
    """The paper's curve: singular values normalised by the largest, normals vs random.

    Returns:
      ``{"index": [1..k], "normals": [...], "random": [...]}`` (JSON-ready).
    """
    s = np.asarray(spec.singular, np.float64)
    rs = np.asarray(spec.random_singular, np.float64)
    return {"index": list(range(1, len(s) + 1)),
            "normals": (s / s[0]).tolist() if len(s) and s[0] > 0 else [],
            "random": (rs / rs[0]).tolist() if len(rs) and rs[0] > 0 else []}


def _json_number(v) -> float | None:
    """A statistic as JSON can hold it: None where it is missing or not finite."""
    return None if v is None or not np.isfinite(v) else float(v)


def _spectrum_block(s) -> dict:
    """One spectrum's statistics as plain floats and lists (the JSON's blocks).

    Args:
      s: a :func:`normal_spectrum` result.

    Returns:
      ``{"sigma_ratio", "random_sigma_ratio", "alignment", "count", "singular",
      "random_singular"}``.
    """
    return {"sigma_ratio": _json_number(s.sigma_ratio),
            "random_sigma_ratio": _json_number(s.random_sigma_ratio),
            "alignment": _json_number(s.alignment), "count": s.count,
            "singular": [float(v) for v in np.asarray(s.singular)],
            "random_singular": [float(v) for v in np.asarray(s.random_singular)]}


def measure_normals(logits_fn, x, y, *, key, norm="2", eps: float = 0.15,
                    radius: float | None = None, method: str = "exact",
                   progress=None) -> dict:
    """The normals' statistics on one model, JSON-ready.

    The normals always come from the minimal *l2* perturbation (the geometric normal
    of the nearest boundary); ``norm`` and ``eps`` only say which points are "near":
    the ``within_eps`` block keeps the points whose distance ``rho_p`` to a boundary,
    in that norm, is at most eps (its ratio is ``None`` with fewer than two normals).

    Args:
      logits_fn: pytree classifier; x: ``f32[n, *shape]``; y: ``i32[n]``.
      key: for the random baseline.
      norm: the norm of "near" (2 or inf).
      eps: the radius of "near".
      radius: the exact scan's reach (default ``max(1, 4 eps)``); points without a
        boundary within it have no normal.
      method: ``"exact"`` (2D ray casting) or ``"deepfool"`` (any dimension).

    Returns:
      ``{"sigma_ratio", "random_sigma_ratio", "alignment", "count", "singular",
      "random_singular", "angles" (2D only), "within_eps": {...}, "method", "norm",
      "eps", "radius", "points"}``.
    """
    norm = parse_norm(norm)
    radius = max(1.0, 4 * eps) if radius is None else radius
    if method == "exact":
        r, valid, rho = exact_minimal_perturbations(logits_fn, x, y, norm="2", radius=radius)
        if norm == "inf":
            _, valid_p, rho = exact_minimal_perturbations(logits_fn, x, y, norm="inf",
                                                          radius=eps)
            rho = jnp.where(valid_p, rho, jnp.inf)
    elif method == "deepfool":
        r, valid = deepfool_minimal_perturbations(logits_fn, x, y, norm="2")
        if norm == "inf":
            r_p, valid_p = deepfool_minimal_perturbations(logits_fn, x, y, norm="inf")
            flat = jnp.asarray(r_p).reshape(r_p.shape[0], -1)
            rho = jnp.where(valid_p, jnp.abs(flat).max(1), jnp.inf)
        else:
            rho = jnp.linalg.norm(jnp.asarray(r).reshape(r.shape[0], -1), axis=1)
    else:
        raise ValueError(f"unknown method {method!r}: use exact or deepfool")
    k_all, k_near = jax.random.split(key)
    spec = normal_spectrum(r, k_all, valid=valid)
    near = normal_spectrum(r, k_near, valid=valid & (rho <= eps))
    out = _spectrum_block(spec)
    if spec.normals.ndim == 2 and spec.normals.shape[1] == 2:
        out["angles"] = [float(a) for a in normal_angles(spec.normals, spec.valid)]
    out["within_eps"] = _spectrum_block(near)
    out.update(method=method, norm=norm, eps=float(eps), radius=float(radius),
               points=int(x.shape[0]))
    return out


def normals_report(task, *, norm="2", eps=None, seed: int = 0, n_points: int = 1000,
                   radius: float | None = None, method: str = "exact",
                   progress=None) -> dict:
    """:func:`measure_normals` on a task's preset model and sample of D; adds ``task``,
    ``expected`` and ``seed``."""
    from categories.checks import check_eps
    from categories.progress import announce, trained_setting

    s = trained_setting(task, seed=seed, n_points=n_points, progress=progress)
    eps = check_eps(s.task.default_eps if eps is None else eps)
    announce(progress, "measuring normals")
    out = measure_normals(s.logits_fn, s.x, s.y, key=s.key, norm=norm, eps=eps, radius=radius,
                          method=method)
    out.update(task=s.task.name, expected=s.task.expected, seed=seed)
    return out


__all__ = ["NormalSpectrum", "unit_normals", "singular_values", "random_unit_vectors",
           "normal_spectrum", "normal_angles", "exact_minimal_perturbations",
           "deepfool_minimal_perturbations", "deepfool_flips", "spectrum_curve", "measure_normals",
           "normals_report"]
