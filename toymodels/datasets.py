"""The 2D world's test distributions D: the four category presets and classic sets.

A :class:`Task` bundles a distribution ``D`` (a sampler with ground-truth labels), the
description of its support (for shading), the plane it lives in, and the training
points that shape the decision boundaries around it.

The four presets are built so that a model trained on them lands in one category of
``DESIGN.md`` at ``eps = DEFAULT_EPS`` for both norms:

- ``margins`` (category 1): compact clusters far from every boundary.
- ``wrinkles`` (category 2): D hugs the inside of wavy ring boundaries whose normals
  point every way, so each point is near a boundary but no one direction serves all.
- ``pancakes`` (category 3): horizontal bands stacked along y, D always just below
  the top of its band, so one upward delta pushes all of D across.
- ``bubbles`` (category 4): D in tiny bubbles inside regions of another class, so
  every delta of size eps leaves the bubble.

Example:
    >>> import jax
    >>> task = get_task("pancakes")
    >>> x, y = task.sample(jax.random.key(0), 100)
    >>> x.shape, y.shape, task.expected
    ((100, 2), (100,), 3)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_EPS = 0.15
DEFAULT_POINTS = 1000  # the sample of D measured (the report's); training draws twice as many
_NOISE_STREAM = 0x6E6F  # fold_in constant of the noise's key: D's own draw is unchanged
PLANE = ((-1.0, 1.0), (-1.0, 1.0))

RegionFn = Callable[[np.ndarray], np.ndarray]
SamplerFn = Callable[[jax.Array, int], tuple[jax.Array, jax.Array]]


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """A 2D classification task: the distribution D and the plane around it.

    Attributes:
      name: the task's name (a preset, a classic set, or ``csv:<file>``).
      num_classes: number of classes.
      bounds: ``((xmin, xmax), (ymin, ymax))``, the plane drawn and trained on.
      expected: the category (1-4) the preset is built for, ``None`` for other sets.
      default_eps: the radius at which the task is meant to be read.
      description: one sentence for the UI.
      sampler: ``(key, n) -> (x f32[n, 2], y i32[n])``, draws from D.
      region: ``f64[m, 2] -> i32[m]``, the intended classifier (training labels for
        plane points), or ``None`` when only the data points are known (CSV).
      points: for data-defined tasks, the fixed points ``(x, y)`` of D.
      noise: standard deviation of the Gaussian jitter added to every point of D (labels
        kept, points clipped into the plane); 0 is D as built (:func:`toymodels.task_variant`).
      train_points: how many points of D the training set draws (:func:`toymodels.training_set`).
      context: for data-defined tasks, points ``(x, y)`` that shape the model but are not
        part of D (a region drawn around D by hand), trained on beside ``points``.
    """

    name: str
    num_classes: int
    bounds: tuple[tuple[float, float], tuple[float, float]]
    expected: int | None
    default_eps: float
    description: str
    sampler: SamplerFn
    region: RegionFn | None = None
    points: tuple[np.ndarray, np.ndarray] | None = None
    noise: float = 0.0
    train_points: int = 2 * DEFAULT_POINTS
    context: tuple[np.ndarray, np.ndarray] | None = None

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draws ``n`` points of D with their true labels.

        Args:
          key: a ``jax.random.key``.
          n: number of points.

        Returns:
          ``(x, y)``: ``f32[n, 2]`` points and ``i32[n]`` labels.
        """
        x, y = self.sampler(key, n)
        x = jnp.asarray(x, jnp.float32)
        if self.noise > 0:       # the same points as without noise, each moved a little
            jitter = jax.random.normal(jax.random.fold_in(key, _NOISE_STREAM), x.shape)
            (x0, x1), (y0, y1) = self.bounds
            margin = 0.01 * (x1 - x0)
            x = jnp.clip(x + self.noise * jitter, jnp.array([x0, y0]) + margin,
                         jnp.array([x1, y1]) - margin).astype(jnp.float32)
        return x, jnp.asarray(y, jnp.int32)

    def support_label(self, points: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Labels the plane points that lie in (a thin neighbourhood of) D's support.

        D's support is described by a dense reference sample: a point belongs to the
        support, with that sample's label, when it is within ``radius`` of it.

        Args:
          points: ``f[m, 2]`` plane points.
          radius: support thickness; defaults to 1.2% of the plane's width.

        Returns:
          ``i32[m]``: the true class of D at each point, ``-1`` outside D.
        """
        ref_x, ref_y = self.reference_sample()
        span = self.bounds[0][1] - self.bounds[0][0]
        radius = 0.012 * span if radius is None else radius
        return _nearest_label_within(np.asarray(points, np.float64), ref_x, ref_y, radius)

    @functools.cache
    def reference_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """A fixed dense sample of D (seed 0), used to shade its support."""
        if self.points is not None:
            return self.points
        x, y = self.sample(jax.random.key(0), 6000)
        return np.asarray(x, np.float64), np.asarray(y)


def _nearest_label_within(points, ref_x, ref_y, radius, chunk=4096):
    out = np.full(len(points), -1, np.int32)
    for start in range(0, len(points), chunk):
        p = points[start:start + chunk]
        d2 = ((p[:, None, :] - ref_x[None, :, :]) ** 2).sum(-1)
        j = d2.argmin(1)
        near = d2[np.arange(len(p)), j] <= radius ** 2
        out[start:start + chunk][near] = ref_y[j][near]
    return out


# ---------------------------------------------------------------------------
# Geometry helpers shared by the presets.

def _polar(x):
    return np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])


def _uniform(key, n, lo, hi):
    return jax.random.uniform(key, (n,), minval=lo, maxval=hi)


# --- margins (category 1) ---------------------------------------------------

_MARGIN_CENTERS = np.array([[-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
_MARGIN_CLASSES = np.array([0, 1, 2, 0])
_MARGIN_RADIUS = 0.14


def _margins_region(x):
    d = ((x[:, None, :] - _MARGIN_CENTERS[None]) ** 2).sum(-1)
    return _MARGIN_CLASSES[d.argmin(1)]


def _margins_sample(key, n):
    kc, kr, ka = jax.random.split(key, 3)
    c = jax.random.randint(kc, (n,), 0, len(_MARGIN_CENTERS))
    r = _MARGIN_RADIUS * jnp.sqrt(jax.random.uniform(kr, (n,)))
    a = _uniform(ka, n, 0.0, 2 * jnp.pi)
    x = jnp.asarray(_MARGIN_CENTERS)[c] + r[:, None] * jnp.stack([jnp.cos(a), jnp.sin(a)], 1)
    return x, jnp.asarray(_MARGIN_CLASSES)[c]


# --- wrinkles (category 2) ----------------------------------------------------
# Two wavy closed boundaries: class 0 inside R1, class 1 in the ring R1 < r < R2,
# class 0 again outside. D hugs each ring's boundary from inside, at a depth of
# 0.45 to 0.85 eps, so every point is within eps of a boundary whose normal points
# its own way (all around the circle).

def _r1(a):
    return 0.42 * (1 + 0.1 * np.sin(6 * a))


def _r2(a):
    return 0.80 * (1 + 0.06 * np.sin(9 * a + 1.0))


_WRINKLE_DEPTH = (0.45 * DEFAULT_EPS, 0.85 * DEFAULT_EPS)


def _wrinkles_region(x):
    r, a = _polar(x)
    return ((r > _r1(a)) & (r < _r2(a))).astype(np.int32)


def _wrinkles_sample(key, n):
    kc, kd, ka = jax.random.split(key, 3)
    y = jax.random.randint(kc, (n,), 0, 2)
    a = _uniform(ka, n, 0.0, 2 * jnp.pi)
    depth = _uniform(kd, n, *_WRINKLE_DEPTH)
    r1 = 0.42 * (1 + 0.1 * jnp.sin(6 * a))
    r2 = 0.80 * (1 + 0.06 * jnp.sin(9 * a + 1.0))
    r = jnp.where(y == 0, r1, r2) - depth
    return r[:, None] * jnp.stack([jnp.cos(a), jnp.sin(a)], 1), y


# --- pancakes (category 3) ----------------------------------------------------
# Seven bands stacked along y, classes alternating; boundaries slightly wavy. D lies
# in thin strips just below the top boundary of each band but the last, so the one
# delta (0, eps) pushes all of it into the band above, while a random delta of size
# eps points up steeply enough less than half of the time.

_N_BANDS = 7
_BAND_EDGES = np.linspace(-1.0, 1.0, _N_BANDS + 1)
_PANCAKE_DEPTH = (0.3 * DEFAULT_EPS, 0.65 * DEFAULT_EPS)
_PANCAKE_X = (-0.8, 0.8)


def _wobble(x, k):
    return 0.02 * np.sin(3.0 * x + k)


def _pancakes_region(x):
    inner = _BAND_EDGES[1:-1]
    tops = inner[None, :] + _wobble(x[:, :1], np.arange(1, _N_BANDS)[None, :])
    band = (x[:, 1:2] > tops).sum(1)
    return (band % 2).astype(np.int32)


def _pancakes_sample(key, n):
    kb, kx, kd = jax.random.split(key, 3)
    band = jax.random.randint(kb, (n,), 0, _N_BANDS - 1)
    px = _uniform(kx, n, *_PANCAKE_X)
    top = jnp.asarray(_BAND_EDGES, jnp.float32)[band + 1] + 0.02 * jnp.sin(
        3.0 * px + (band + 1).astype(jnp.float32))
    py = top - _uniform(kd, n, *_PANCAKE_DEPTH)
    return jnp.stack([px, py], 1), band % 2


# --- bubbles (category 4) -----------------------------------------------------
# Left half is class 0, right half class 1; a grid of tiny bubbles of the other
# class sits in each half. D is the core of each bubble: from any point of D, every
# delta of size eps leaves its bubble (core radius + bubble radius < eps).

_BUBBLE_RADIUS = 0.5 * DEFAULT_EPS
_BUBBLE_CORE = 0.2 * DEFAULT_EPS
_BUBBLE_CENTERS = np.array([[x, y] for x in (-0.7, -0.3, 0.3, 0.7) for y in (-0.6, 0.0, 0.6)])
_BUBBLE_CLASSES = (_BUBBLE_CENTERS[:, 0] < 0).astype(np.int32)


def _bubbles_region(x):
    base = (x[:, 0] >= 0).astype(np.int32)
    d2 = ((x[:, None, :] - _BUBBLE_CENTERS[None]) ** 2).sum(-1)
    inside = d2.min(1) < _BUBBLE_RADIUS ** 2
    return np.where(inside, _BUBBLE_CLASSES[d2.argmin(1)], base)


def _bubbles_sample(key, n):
    kc, kr, ka = jax.random.split(key, 3)
    c = jax.random.randint(kc, (n,), 0, len(_BUBBLE_CENTERS))
    r = _BUBBLE_CORE * jnp.sqrt(jax.random.uniform(kr, (n,)))
    a = _uniform(ka, n, 0.0, 2 * jnp.pi)
    x = jnp.asarray(_BUBBLE_CENTERS)[c] + r[:, None] * jnp.stack([jnp.cos(a), jnp.sin(a)], 1)
    return x, jnp.asarray(_BUBBLE_CLASSES)[c]


# --- classic sets ---------------------------------------------------------------

def _clip(x):
    """Keeps noisy samples inside the plane."""
    return jnp.clip(x, -0.98, 0.98)


def _circle_sample(key, n):
    kc, kr, ka = jax.random.split(key, 3)
    y = jax.random.randint(kc, (n,), 0, 2)
    r = jnp.where(y == 0, 0.45 * jnp.sqrt(jax.random.uniform(kr, (n,))),
                  _uniform(kr, n, 0.65, 0.9))
    a = _uniform(ka, n, 0.0, 2 * jnp.pi)
    return r[:, None] * jnp.stack([jnp.cos(a), jnp.sin(a)], 1), y


def _xor_sample(key, n):
    x = jax.random.uniform(key, (n, 2), minval=-0.9, maxval=0.9)
    x = x + 0.05 * jnp.sign(x)
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(jnp.int32)


def _gauss_sample(key, n):
    kc, kn = jax.random.split(key)
    y = jax.random.randint(kc, (n,), 0, 2)
    mean = jnp.where(y[:, None] == 0, jnp.array([-0.4, -0.4]), jnp.array([0.4, 0.4]))
    return _clip(mean + 0.15 * jax.random.normal(kn, (n, 2))), y


def _spiral_sample(key, n):
    kc, kt, kn = jax.random.split(key, 3)
    y = jax.random.randint(kc, (n,), 0, 2)
    t = jnp.sqrt(jax.random.uniform(kt, (n,))) * 3 * jnp.pi
    r = 0.85 * t / (3 * jnp.pi)
    a = t + jnp.pi * y.astype(jnp.float32)
    x = r[:, None] * jnp.stack([jnp.cos(a), jnp.sin(a)], 1)
    return _clip(x + 0.02 * jax.random.normal(kn, (n, 2))), y


def _moons_sample(key, n):
    kc, kt, kn = jax.random.split(key, 3)
    y = jax.random.randint(kc, (n,), 0, 2)
    t = _uniform(kt, n, 0.0, jnp.pi)
    upper = jnp.stack([jnp.cos(t) - 0.5, jnp.sin(t) - 0.25], 1)
    lower = jnp.stack([0.5 - jnp.cos(t), 0.25 - jnp.sin(t)], 1)
    x = jnp.where(y[:, None] == 0, upper, lower) * 0.6
    return _clip(x + 0.05 * jax.random.normal(kn, (n, 2))), y


# --- three blobs and a wavy strip (the benchmarks' shared task) -----------------

_BLOB_CENTERS = np.array([[-0.55, 0.5], [0.55, 0.5], [0.0, -0.55]])


def _strip_center(x):
    return 0.12 * np.sin(4.0 * x)


def _blobs_strip_region(x):
    in_strip = np.abs(x[:, 1] - _strip_center(x[:, 0])) < 0.07
    d = ((x[:, None, :] - _BLOB_CENTERS[None]) ** 2).sum(-1)
    return np.where(in_strip, 3, d.argmin(1)).astype(np.int32)


def _blobs_strip_sample(key, n):
    kc, kn, kx, ky = jax.random.split(key, 4)
    c = jax.random.randint(kc, (n,), 0, 4)
    blob = jnp.asarray(_BLOB_CENTERS, jnp.float32)[jnp.minimum(c, 2)] + 0.1 * jax.random.normal(kn, (n, 2))
    sx = _uniform(kx, n, -0.9, 0.9)
    strip = jnp.stack([sx, 0.12 * jnp.sin(4.0 * sx) + _uniform(ky, n, -0.03, 0.03)], 1)
    x = jnp.where((c == 3)[:, None], strip, blob)
    return _clip(x), c


_preset = functools.partial(Task, bounds=PLANE, default_eps=DEFAULT_EPS)

PRESETS: dict[str, Task] = {
    "margins": _preset(
        name="margins", num_classes=3, expected=1, sampler=_margins_sample,
        region=_margins_region,
        description="Compact clusters far from every boundary: no adversarial perturbations."),
    "wrinkles": _preset(
        name="wrinkles", num_classes=2, expected=2, sampler=_wrinkles_sample,
        region=_wrinkles_region,
        description="D hugs wavy boundaries whose normals point every way: each point has "
                    "its own adversarial perturbation, no single one fools most."),
    "pancakes": _preset(
        name="pancakes", num_classes=2, expected=3, sampler=_pancakes_sample,
        region=_pancakes_region,
        description="Thin bands stacked along y with D always just below each band's top: "
                    "one upward perturbation fools almost all of D."),
    "bubbles": _preset(
        name="bubbles", num_classes=2, expected=4, sampler=_bubbles_sample,
        region=_bubbles_region,
        description="D sits in tiny bubbles inside regions of another class: every "
                    "perturbation of size eps is adversarial."),
}

_classic = functools.partial(Task, bounds=PLANE, expected=None, default_eps=0.1, num_classes=2)

CLASSICS: dict[str, Task] = {
    "circle": _classic(name="circle", sampler=_circle_sample,
                       description="A disk inside a ring."),
    "xor": _classic(name="xor", sampler=_xor_sample,
                    description="Four quadrants, opposite ones of one class."),
    "gauss": _classic(name="gauss", sampler=_gauss_sample,
                      description="Two overlapping Gaussian blobs."),
    "spiral": _classic(name="spiral", sampler=_spiral_sample,
                       description="Two interleaved spirals."),
    "moons": _classic(name="moons", sampler=_moons_sample,
                      description="Two interleaving half circles."),
    "blobs-strip": _classic(name="blobs-strip", sampler=_blobs_strip_sample, num_classes=4,
                            region=_blobs_strip_region,
                            description="Three blobs and a wavy strip between them "
                                        "(the benchmarks' shared task)."),
}

TASK_NAMES = tuple(PRESETS) + tuple(CLASSICS)


def get_task(name: str) -> Task:
    """Returns the preset or classic task called ``name``.

    Raises:
      ValueError: if there is no such task (the message lists the valid names).
    """
    if name in PRESETS:
        return PRESETS[name]
    if name in CLASSICS:
        return CLASSICS[name]
    raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(TASK_NAMES)}")
