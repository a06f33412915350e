"""The plane as the app draws it: images over a grid, overlays, and the probe of a point.

Arrays for :func:`drawing.plane.draw_plane`: the classifier's regions and their
boundaries (once per model), D's support with its distances in both norms so that
``H = D + B_eps`` costs one comparison per eps (once per task), the overlays' arrays
(minimal, universal and random perturbations, eps-balls), and the probe of one point
(its rho, minimal perturbation, and how many boundaries the straight paths cross).

Example:
    >>> import jax, jax.numpy as jnp
    >>> f = jax.tree_util.Partial(lambda x: jnp.stack([-x[:, 1], x[:, 1]], 1))
    >>> region_image(f, ((-1, 1), (-1, 1)), res=4).tolist()
    [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import lp_norm, parse_norm, sample_sphere
from categories import Profile, scan_profile
from drawing.plane_spec import Overlays
from toymodels import classify_grid, plane_grid

GRID_RES = 300         # the plane image's resolution
PROBE_REACH = 1.0      # how far a probe looks for the nearest boundary

def region_image(logits_fn, bounds, res: int = GRID_RES) -> np.ndarray:
    """The classifier's label at every cell: ``i32[res, res]``, row = y (upwards)."""
    return classify_grid(logits_fn, plane_grid(bounds, res))


class SupportMap(NamedTuple):
    """D's support on the plane grid and the distances that give ``H`` for any eps."""

    label: np.ndarray    # i32[res, res] true class of D in a cell, -1 outside D
    near: np.ndarray     # i32[res, res] the true class of the nearest cell of D
    dist2: np.ndarray    # f32[res, res] l2 distance to D's support (0 inside)
    distinf: np.ndarray  # f32[res, res] linf distance to D's support (0 inside)
    cell: float          # the cells' side


def support_map(task, res: int = GRID_RES, radius: float | None = None) -> SupportMap:
    """Rasterises D's support on the ``res x res`` grid of ``task.bounds``.

    The support is the set within ``radius`` (default 1.2% of the plane's width, as in
    :meth:`toymodels.Task.support_label`) of the task's dense reference sample; cells are
    binned, then distance transforms give every cell's distance to the support in both
    norms, so ``H = {dist <= eps}`` costs one comparison per eps.

    Returns:
      A :class:`SupportMap`.
    """
    from scipy import ndimage

    (x0, x1), (y0, y1) = task.bounds
    cell = (x1 - x0) / res
    ref_x, ref_y = _reference_sample(task)
    col = np.clip(((ref_x[:, 0] - x0) / cell).astype(int), 0, res - 1)
    row = np.clip(((ref_x[:, 1] - y0) / ((y1 - y0) / res)).astype(int), 0, res - 1)
    seeds = np.full((res, res), -1, np.int32)
    seeds[row, col] = ref_y
    radius = 0.012 * (x1 - x0) if radius is None else radius
    d_seed, (ir, ic) = ndimage.distance_transform_edt(seeds < 0, sampling=cell,
                                                      return_indices=True)
    inside = d_seed <= radius
    label = np.where(inside, seeds[ir, ic], -1).astype(np.int32)
    dist2, (jr, jc) = ndimage.distance_transform_edt(~inside, sampling=cell,
                                                     return_indices=True)
    distinf = ndimage.distance_transform_cdt(~inside, metric="chessboard") * cell
    return SupportMap(label, label[jr, jc], dist2.astype(np.float32),
                      distinf.astype(np.float32), float(cell))


def _reference_sample(task, n: int = 6000):
    """A dense sample of D for its support: the data-defined task's points, else ``n``
    draws from ``key(0)`` (jitted: one compilation instead of many eager ops)."""
    if task.points is not None:
        return np.asarray(task.points[0]), np.asarray(task.points[1])
    x, y = jax.jit(task.sampler, static_argnums=1)(jax.random.key(0), n)
    return np.asarray(x, np.float64), np.asarray(y, np.int32)


def boundary_lines(regions, bounds) -> list[np.ndarray]:
    """The decision boundaries of a region image as polylines (``f[m, 2]`` each).

    Computed once per model (marching squares on each class's indicator), so redrawing
    the plane on an eps change does not contour again.
    """
    import contourpy

    regions = np.asarray(regions)
    res = regions.shape[0]
    (x0, x1), (y0, y1) = bounds
    gx = x0 + (np.arange(res) + 0.5) * (x1 - x0) / res
    gy = y0 + (np.arange(res) + 0.5) * (y1 - y0) / res
    present = np.unique(regions)
    lines = []
    for c in (present[:-1] if len(present) == 2 else present if len(present) > 2 else ()):
        gen = contourpy.contour_generator(gx, gy, (regions == c).astype(np.float64))
        lines.extend(np.asarray(seg, np.float32) for seg in gen.lines(0.5))
    return lines


def h_mask(support: SupportMap, norm, eps: float) -> np.ndarray:
    """``H = D + B_eps`` on the grid: ``bool[res, res]``."""
    dist = support.dist2 if parse_norm(norm) == "2" else support.distinf
    return dist <= eps + 1e-6



def random_deltas(key, n: int, norm, eps: float) -> np.ndarray:
    """One delta per point, uniform on ``S_eps``: ``f32[n, 2]`` (the random overlay)."""
    return np.asarray(sample_sphere(jax.random.fold_in(key, 4), (n, 2), parse_norm(norm),
                                    float(eps)))


def overlay_layers(logits_fn, x, pred, profile: Profile, reading, overlays, *,
                   norm, eps: float, key, n_arrows: int = 150, n_balls: int = 12,
                   n_random: int = 40) -> Overlays:
    """The overlays' arrays, for a :class:`drawing.PlaneSpec`.

    Args:
      reading: the reading at eps (``app_pages.reading.Reading``: its universal delta and
        the points it fools).
      overlays: names of the overlays to draw (the app's ``app_pages.urlstate.OVERLAYS``).
      n_arrows, n_balls, n_random: how many evenly spread points carry each overlay.

    Returns:
      :class:`drawing.Overlays` with ``minimal = (start, r, within)``, ``balls =
      centres``, ``universal = (delta, fooled)``, ``random = (start, delta, flipped)``;
      None for the overlays not asked for.
    """
    x = np.asarray(x)
    out = {}
    if "arrows" in overlays:
        rho = np.asarray(profile.rho)
        idx = subset(len(x), n_arrows)
        idx = idx[np.isfinite(rho[idx])]
        out["minimal"] = (x[idx], np.asarray(profile.r)[idx], rho[idx] <= eps)
    if "balls" in overlays:
        out["balls"] = x[subset(len(x), n_balls)]
    if "universal" in overlays:
        out["universal"] = (reading.universal_delta, reading.universal_fooled)
    if "random" in overlays:
        idx = subset(len(x), n_random)
        d = random_deltas(key, len(x), norm, eps)[idx]
        out["random"] = (x[idx], d, labels_of(logits_fn, x[idx] + d) != np.asarray(pred)[idx])
    return Overlays(**out)


@jax.jit
def _labels(logits_fn, x):
    return logits_fn(x).argmax(-1).astype(jnp.int32)


def labels_of(logits_fn, x) -> np.ndarray:
    """``f(x)``: ``i32[n]``."""
    return np.asarray(_labels(logits_fn, jnp.asarray(x, jnp.float32)))


def subset(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` evenly spread indices of ``range(n)`` (the overlays' points)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int)) if n else \
        np.zeros(0, int)


# ---------------------------------------------------------------------------------------
# The probe: one point, its ball, its minimal perturbation and the boundaries crossed.

class Probe(NamedTuple):
    point: np.ndarray     # f32[2]
    label: int            # f(point)
    rho: float            # distance to the nearest boundary (inf beyond PROBE_REACH)
    r: np.ndarray         # f32[2] minimal perturbation (0 if none within reach)
    segments: dict        # {name: (delta f32[2], crossings int, end label int)}
    random_mean: float    # mean crossings over directions uniform on S_eps
    random_changed: float  # share of those directions whose end changes label


def probe(logits_fn, point, norm, eps: float, universal_delta, key,
          n_random: int = 64) -> Probe:
    """Measures one point of the plane.

    Segments of size eps (counted with :func:`categories.crossings.crossing_counts`):
    along the minimal perturbation's direction, along the universal perturbation, and
    ``n_random`` directions uniform on ``S_eps``.

    Args:
      point: ``(x, y)``; universal_delta: ``f32[2]`` the exact universal delta at eps.
      key: a ``jax.random.key`` for the random directions.

    Returns:
      A :class:`Probe`.
    """
    from categories import crossing_counts

    norm = parse_norm(norm)
    p = jnp.asarray(np.asarray(point, np.float32).reshape(1, 2))
    lab = labels_of(logits_fn, p)
    prof = scan_profile(logits_fn, p, jnp.asarray(lab), norm=norm, eps_max=PROBE_REACH)
    rho, r = float(prof.rho[0]), np.asarray(prof.r[0], np.float32)
    size = float(lp_norm(jnp.asarray(r[None]), norm)[0])
    minimal = r * (eps / size) if size > 0 else np.zeros(2, np.float32)
    deltas = {"minimal direction": minimal,
              "universal": np.asarray(universal_delta, np.float32)}
    rnd = np.asarray(sample_sphere(key, (n_random, 2), norm, float(eps)))
    allx = jnp.asarray(np.repeat(np.asarray(p), 2 + n_random, 0))
    alld = jnp.asarray(np.concatenate([np.stack(list(deltas.values())), rnd]))
    c = crossing_counts(logits_fn, allx, alld)
    counts = np.asarray(c.counts)
    ends = labels_of(logits_fn, allx + alld)
    segments = {name: (d, int(counts[i]), int(ends[i])) for i, (name, d) in
                enumerate(deltas.items())}
    return Probe(np.asarray(p[0]), int(lab[0]), rho, r, segments,
                 float(counts[2:].mean()), float((ends[2:] != lab[0]).mean()))


def probe_window(logits_fn, pr: Probe, eps: float, res: int = 200) -> tuple[np.ndarray, tuple]:
    """The classifier's regions on a square window around a probe (the magnifier).

    The window's half-side covers the eps-ball and the minimal perturbation
    (``1.5 * max(eps, rho)``, at most :data:`PROBE_REACH`).

    Returns:
      ``(regions i32[res, res], bounds)``.
    """
    reach = eps if not np.isfinite(pr.rho) else max(eps, pr.rho)
    half = min(1.5 * reach, PROBE_REACH)
    (px, py) = (float(v) for v in pr.point)
    bounds = ((px - half, px + half), (py - half, py + half))
    return classify_grid(logits_fn, plane_grid(bounds, res)), bounds


__all__ = ["GRID_RES", "PROBE_REACH", "region_image", "SupportMap", "support_map",
           "boundary_lines", "h_mask", "random_deltas", "overlay_layers", "labels_of",
           "subset", "Probe", "probe", "probe_window"]
