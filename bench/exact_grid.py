"""The exact universal optimum in the plane against a brute-force grid in torch.

The project computes ``universal(eps) = max_{delta in B_eps} P[f(x + delta) != f(x)]``
with :mod:`categories.exact2d`: one radial scan (which also yields every other curve)
and a coarse-to-fine search of ``B_eps``. The brute-force baseline evaluates the same
weights, as a torch MLP, at every ``x_i + delta`` for every ``delta`` of a square
lattice over ``B_eps`` whose spacing is the exact search's final resolution, and keeps
the best delta.

The module also counts the classifier evaluations each method makes, so the table can
state FLOP rates (evaluations x the MLP's FLOPs per point).

Example:
    >>> round(exact_resolution(0.3), 5)
    0.00184
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np
import torch

from categories import exact_at, scan_profile

# categories.exact2d's defaults (scan_profile, then exact_at): the benchmark times these.
SCAN = dict(n_radii=24, n_dirs=64, top_k=4, fan=3, coarse_iters=5, bisect_iters=12)
REFINE = dict(candidates=4, grid=5, levels=4)


class ExactResult(NamedTuple):
    universal: float        # the exact universal fraction at eps
    pointwise: float        # the exact pointwise fraction at eps (PGD's ceiling)
    random: float
    delta: np.ndarray       # f32[2] the maximiser


def exact_resolution(eps: float, *, n_dirs: int = SCAN["n_dirs"],
                     n_radii: int = SCAN["n_radii"], grid: int = REFINE["grid"],
                     levels: int = REFINE["levels"]) -> float:
    """The spacing of the exact search's last local grid in ``B_eps``.

    ``exact_at`` refines around its best candidates on a ``grid x grid`` grid of
    half-width ``h0 / 2**level`` for ``level < levels``, where
    ``h0 = max(2 pi eps / n_dirs, eps / n_radii)``; the last grid's spacing is
    ``2 h0 / 2**(levels - 1) / (grid - 1)``, for either norm.
    """
    h0 = max(2 * math.pi * eps / n_dirs, eps / n_radii)
    return 2 * h0 / 2 ** (levels - 1) / (grid - 1)


def exact_evaluations(n: int, norm: str = "2", *, n_radii: int = SCAN["n_radii"],
                      n_dirs: int = SCAN["n_dirs"],
                      top_k: int = SCAN["top_k"], fan: int = SCAN["fan"],
                      coarse_iters: int = SCAN["coarse_iters"],
                      bisect_iters: int = SCAN["bisect_iters"],
                      candidates: int = REFINE["candidates"], grid: int = REFINE["grid"],
                      levels: int = REFINE["levels"]) -> int:
    """Classifier evaluations (points) of one ``scan_profile`` + ``exact_at`` on n points.

    Read off :mod:`categories.exact2d`: the scan predicts the points (1), the polar grid
    (``n_dirs * n_radii``), bisects every ray (``n_dirs * coarse_iters``), the ``top_k``
    best rays (``top_k * bisect_iters``), then a fan of ``2 fan`` rays at 4 radii and its
    bisection (``2 fan * (4 + bisect_iters)``); ``exact_at`` evaluates the eps ring
    (``n_dirs``), ``levels`` local grids of ``candidates * grid**2`` deltas and the
    ``candidates`` final deltas. For linf (``norm="inf"``) the square's 4 corners are
    rays of the scan too (``4 * (n_radii + coarse_iters)``) and universal candidates (4).
    """
    scan = 1 + n_dirs * n_radii + n_dirs * coarse_iters + top_k * bisect_iters \
        + 2 * fan * (4 + bisect_iters)
    refine = n_dirs + levels * candidates * grid * grid + candidates
    if norm == "inf":
        scan += 4 * (n_radii + coarse_iters)
        refine += 4
    return n * (scan + refine)


def lattice(norm: str, eps: float, spacing: float) -> np.ndarray:
    """The deltas of a square lattice of ``spacing`` (centred on 0) inside ``B_eps``.

    Returns:
      ``f32[m, 2]``.
    """
    k = int(math.floor(eps / spacing + 1e-9))
    axis = spacing * np.arange(-k, k + 1)
    d = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    if norm == "2":
        d = d[np.hypot(d[:, 0], d[:, 1]) <= eps + 1e-12]
    return d.astype(np.float32)


def run_exact(logits_fn, x, y, *, norm: str, eps: float) -> ExactResult:
    """One exact computation: the scan up to eps, then the four fractions at eps."""
    profile = scan_profile(logits_fn, x, y, norm=norm, eps_max=eps, **SCAN)
    f = exact_at(logits_fn, x, profile, norm=norm, eps=eps, **REFINE)
    f = jax.block_until_ready(f)
    return ExactResult(float(f.universal), float(f.pointwise), float(f.random),
                       np.asarray(f.universal_delta))


def torch_grid_search(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, deltas: np.ndarray,
                      *, chunk: int = 128) -> tuple[float, np.ndarray]:
    """Brute force: the fooling rate of every delta, over the correctly classified points.

    Args:
      net: the torch MLP.
      x: ``f32[n, 2]`` points; y: ``i32[n]`` their labels.
      deltas: ``f32[m, 2]`` candidate perturbations.
      chunk: deltas per batch (``chunk * n`` points per forward pass).

    Returns:
      ``(best fooling rate, f32[2] best delta)``.
    """
    xt = torch.from_numpy(np.array(x, np.float32))
    with torch.inference_mode():
        pred = net(xt).argmax(-1)
        correct = pred == torch.from_numpy(np.asarray(y, np.int64))
        weight = correct.float() / max(int(correct.sum()), 1)
        best, best_delta = -1.0, deltas[0]
        dt = torch.from_numpy(deltas)
        for start in range(0, len(deltas), chunk):
            d = dt[start:start + chunk]
            pts = (xt[None, :, :] + d[:, None, :]).reshape(-1, 2)
            flips = (net(pts).argmax(-1).reshape(len(d), -1) != pred[None]).float()
            frac = flips @ weight
            j = int(frac.argmax())
            if float(frac[j]) > best:
                best, best_delta = float(frac[j]), deltas[start + j]
    return best, np.asarray(best_delta)
