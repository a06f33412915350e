"""2D test tasks for the attacks, with the exact universal optimum by brute force.

The attack tests import them (a plain module, not a test module: pytest collects nothing
here); ``test_attacks_tasks`` checks the tasks themselves (the brute-force optimum is what
the geometry says it must be). The attack tests run under strict dtype promotion: the
``strict_dtype_promotion`` fixture of ``conftest.py``.

A task is ``(logits_fn, x, eps)``: an analytic or trained 2D classifier as a pytree, the
points of D, and a radius at which ``universal(eps)`` is neither 0 nor trivial.
"""

from __future__ import annotations

import collections
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.tree_util import Partial


# ---------------------------------------------------------------------- classifiers

# How often each classifier's Python function ran: under jit, once per trace. A test that
# calls an attack again with new eps or parameters checks that the count does not move.
TRACES = collections.Counter()


def analytic_logits(params, x):
    """One family of analytic 2D classifiers with three classes, ``f32[n, 3]``:

    ``z_c = x . w_c + b_c + a_c sin(x . omega_c + phi_c) + g_c |x|``.

    The tasks below are parameters of this one function, so an attack compiled for one of
    them serves all (and shows that new parameters do not recompile).
    """
    TRACES["analytic"] += 1
    radius = jnp.sqrt(jnp.sum(x * x, axis=1, keepdims=True) + 1e-12)   # finite gradient at 0
    return (x @ params["w"] + params["b"]
            + params["a"] * jnp.sin(x @ params["omega"] + params["phi"])
            + params["g"] * radius)


def analytic_params(w=None, b=(0.0, 0.0, 0.0), a=(0.0, 0.0, 0.0), omega=None,
                    phi=(0.0, 0.0, 0.0), g=(0.0, 0.0, 0.0)):
    """The parameters of :func:`analytic_logits` as f32 arrays (unused classes get b=-100)."""
    arr = lambda v, shape: jnp.asarray(np.zeros(shape) if v is None else v, jnp.float32)
    return {"w": arr(w, (2, 3)), "b": arr(b, (3,)), "a": arr(a, (3,)),
            "omega": arr(omega, (2, 3)), "phi": arr(phi, (3,)), "g": arr(g, (3,))}


def bands_classifier():
    """Horizontal bands of height 1, alternating classes 1 (sin(pi y) > 0) and 0."""
    omega = np.zeros((2, 3))
    omega[1, 1] = np.pi
    return Partial(analytic_logits, analytic_params(b=(0.0, 0.0, -100.0), a=(0.0, 1.0, 0.0),
                                                    omega=omega))


def disc_classifier():
    """Class 0 inside the unit disc (1 - |x| > 0), class 1 outside."""
    return Partial(analytic_logits, analytic_params(b=(1.0, 0.0, -100.0), g=(-1.0, 0.0, 0.0)))


def wavy_blobs_classifier(centers: np.ndarray, wave: float = 0.4):
    """Nearest of three ``centers`` (-|x - mu_c|^2 / 2 without the common -|x|^2 / 2) with
    wavy boundaries ``wave * sin(4 x_0 + 3 x_1 + 2.1 c)``."""
    omega = np.tile(np.array([[4.0], [3.0]]), (1, 3))
    return Partial(analytic_logits, analytic_params(
        w=centers.T, b=-0.5 * np.sum(centers ** 2, axis=1), a=(wave,) * 3, omega=omega,
        phi=2.1 * np.arange(3)))


def linear_logits(w, b, x):
    """Multi-class linear classifier ``x @ w + b`` on flattened points: ``f32[n, c]``
    (counted in ``TRACES["linear"]``)."""
    TRACES["linear"] += 1
    return x.reshape(x.shape[0], -1) @ w + b


def linear_model(d: int = 5, classes: int = 4, seed: int = 0):
    """A random multi-class linear classifier on ``f32[n, d]`` as a Partial."""
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.normal(size=(d, classes)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(classes,)), jnp.float32)
    return Partial(linear_logits, w, b)


def normal_points(n: int, d: int, seed: int = 0):
    """Standard normal points ``f32[n, d]`` (NumPy's generator: no JAX compilation)."""
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, d)), jnp.float32)


def linear_distances(f, x, norm: str):
    """Exact distance of each row of ``x`` to the decision boundary of a linear Partial:
    ``min_{j != y} |z_j - z_y| / |w_j - w_y|_q`` with q = 2 (l2) or 1 (linf): f32[n]."""
    w, b = f.args
    z = x @ w + b
    y = jnp.argmax(z, axis=1)
    dw = w.T[None, :, :] - w.T[y][:, None, :]
    gap = jnp.abs(z - jnp.take_along_axis(z, y[:, None], axis=1))
    q = jnp.sqrt(jnp.sum(dw * dw, axis=2)) if norm == "2" else jnp.sum(jnp.abs(dw), axis=2)
    dist = jnp.where(jax.nn.one_hot(y, w.shape[1], dtype=jnp.bool_), jnp.inf,
                     gap / jnp.maximum(q, 1e-12))
    return jnp.min(dist, axis=1)


def numpy_init(seed: int):
    """A LeCun-normal kernel initialiser drawing from NumPy (eager jax.random would compile
    once per kernel shape, seconds of the test run)."""
    rng = np.random.default_rng(seed)

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.asarray(rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1])), dtype)

    return init


def conv_apply(graphdef, state, x):
    """Forward pass of a split NNX model on images (counted in ``TRACES["conv"]``)."""
    TRACES["conv"] += 1
    return nnx.merge(graphdef, state)(x)


class ConvNet(nnx.Module):
    """Two 3x3 convolutions, global average pooling and a linear read-out: images to
    ``classes`` logits."""

    def __init__(self, channels: int, classes: int, *, seed: int):
        rngs, init = nnx.Rngs(seed), numpy_init(seed)
        self.conv1 = nnx.Conv(channels, 8, (3, 3), kernel_init=init, rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, (3, 3), strides=(2, 2), kernel_init=init, rngs=rngs)
        self.out = nnx.Linear(16, classes, kernel_init=init, rngs=rngs)

    def __call__(self, x):
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        return self.out(jnp.mean(x, axis=(1, 2)))


def conv_model(classes: int = 5, seed: int = 0):
    """An untrained :class:`ConvNet` on 8x8x3 images as a Partial."""
    graphdef, state = nnx.split(ConvNet(3, classes, seed=seed))
    return Partial(conv_apply, graphdef, state)


def images(n: int = 16, seed: int = 0):
    """Random 8x8x3 "images" in [0, 1]: f32[n, 8, 8, 3]."""
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(n, 8, 8, 3)), jnp.float32)


def mlp_apply(graphdef, state, x):
    """Forward pass of a split NNX model (counted in ``TRACES["mlp"]``)."""
    TRACES["mlp"] += 1
    return nnx.merge(graphdef, state)(x)


def perturbed(f: Partial, scale: float = 1.01) -> Partial:
    """The same classifier with every parameter array scaled: same function, new leaves."""
    return jax.tree.map(lambda a: a * scale, f)


class MLP(nnx.Module):
    """``depth`` ReLU layers of ``width`` units on 2D points."""

    def __init__(self, classes: int, width: int, depth: int, *, seed: int):
        rngs, init = nnx.Rngs(seed), numpy_init(seed)
        sizes = [2] + [width] * depth
        self.hidden = nnx.List([nnx.Linear(a, b, kernel_init=init, rngs=rngs)
                                for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = nnx.Linear(width, classes, kernel_init=init, rngs=rngs)

    def __call__(self, x):
        for layer in self.hidden:
            x = jax.nn.relu(layer(x))
        return self.out(x)


# ---------------------------------------------------------------------- data

# The data come from NumPy's generator: eager jax.random calls would compile per shape.

def bands_task(n: int = 400, eps: float = 0.2, seed: int = 0):
    """Points just below the boundaries y = 1, 2, 3 (gaps in [0.3, 0.9] eps): optimum 1."""
    rng = np.random.default_rng(seed)
    level = rng.integers(1, 4, n)
    gap = eps * rng.uniform(0.3, 0.9, n)
    x = np.stack([rng.uniform(-2.0, 2.0, n), level - gap], axis=1)
    return bands_classifier(), jnp.asarray(x, jnp.float32), eps


def ring_task(n: int = 400, eps: float = 0.2, seed: int = 0):
    """Points on a ring eps/2 inside the unit circle: optimum about 1/3 for l2."""
    angle = np.random.default_rng(seed).uniform(0.0, 2 * math.pi, n)
    radius = 1.0 - 0.5 * eps
    x = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return disc_classifier(), jnp.asarray(x, jnp.float32), eps


def blob_points(seed: int, n: int):
    """Three Gaussian blobs (classes 0-2) plus a wavy strip between them (class 3)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 1.2], [-1.1, -0.7], [1.1, -0.7]])
    n_blob = (3 * n) // 4
    cls = rng.integers(0, 3, n_blob)
    blobs = centers[cls] + 0.35 * rng.normal(size=(n_blob, 2))
    t = rng.uniform(-1.8, 1.8, n - n_blob)
    strip = np.stack([t, 0.15 + 0.25 * np.sin(3.0 * t)], axis=1)
    x = jnp.asarray(np.concatenate([blobs, strip]), jnp.float32)
    y = jnp.asarray(np.concatenate([cls, np.full(n - n_blob, 3)]), jnp.int32)
    return x, y, centers


def wavy_blobs_task(n: int = 400, eps: float = 0.8, seed: int = 0):
    """Three Gaussian blobs and a wavy strip, classified by wavy nearest-centre logits."""
    x, _, centers = blob_points(seed, n)
    return wavy_blobs_classifier(centers), x, eps


@functools.lru_cache(maxsize=None)
def trained_mlp(width: int = 64, depth: int = 3, steps: int = 300, seed: int = 0):
    """A ``depth``-layer ReLU MLP fitted by Adam to :func:`blob_points` (4 classes)."""
    x, y, _ = blob_points(seed + 1, 1000)
    model = MLP(4, width, depth, seed=seed)
    graphdef, params = nnx.split(model)
    opt = optax.adam(1e-2)

    def loss(p):
        logits = mlp_apply(graphdef, p, x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    @jax.jit
    def train(p):
        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None
        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
        return p

    with jax.numpy_dtype_promotion("standard"):      # optax's Adam is not strict-clean
        params = train(params)
    return Partial(mlp_apply, graphdef, params)


def mlp_task(n: int = 400, eps: float = 0.5, seed: int = 0):
    """The trained MLP on fresh points of the same distribution."""
    x, _, _ = blob_points(seed + 2, n)
    return trained_mlp(), x, eps


TASKS = {"bands": bands_task, "ring": ring_task, "wavy_blobs": wavy_blobs_task, "mlp": mlp_task}


# ---------------------------------------------------------------------- brute force

@functools.partial(jax.jit, static_argnames=("chunk",))
def _rates(logits_fn, x, deltas, chunk=256):
    """Fooling rate of each of ``deltas`` (f32[m, 2]) on all of ``x``: f32[m]."""
    ref = jnp.argmax(logits_fn(x), axis=1)

    def rate(d):
        return jnp.mean((jnp.argmax(logits_fn(x + d), axis=1) != ref).astype(jnp.float32))

    return jax.lax.map(rate, deltas, batch_size=chunk)


def ball_grid(norm: str, eps: float, size: int, center=(0.0, 0.0), half: float | None = None):
    """A ``size x size`` grid of the square ``center +- half`` kept inside B_eps: f32[m, 2]."""
    half = eps if half is None else half
    a = np.linspace(-half, half, size)
    g = np.stack(np.meshgrid(a, a, indexing="ij"), -1).reshape(-1, 2) + np.asarray(center)
    size_of = np.linalg.norm(g, axis=1) if norm == "2" else np.abs(g).max(axis=1)
    return jnp.asarray(g[size_of <= eps * (1 + 1e-6)], jnp.float32)


def _padded_rates(logits_fn, x, deltas, length: int = 8192):
    """:func:`_rates` on ``deltas`` padded with zeros to ``length`` rows (one compilation
    per classifier whatever the grid)."""
    m = deltas.shape[0]
    padded = jnp.concatenate([deltas, jnp.zeros((length - m, 2), jnp.float32)])
    return np.asarray(_rates(logits_fn, x, padded))[:m]


def exact_universal(logits_fn, x, norm: str, eps: float, size: int = 81, refine: int = 3):
    """``max_{delta in B_eps}`` fooling rate by brute force: a ``size^2`` grid of B_eps, then
    41^2 grids around the ``refine`` best points (one cell wide). Returns (rate, delta)."""
    grid = ball_grid(norm, eps, size)
    rates = _padded_rates(logits_fn, x, grid)
    best = np.argsort(-rates)[:refine]
    cell = 2 * eps / (size - 1)
    cands = [grid[best]] + [ball_grid(norm, eps, 41, np.asarray(grid[i]), cell) for i in best]
    cands = jnp.concatenate(cands)
    rates = _padded_rates(logits_fn, x, cands)
    i = int(np.argmax(rates))
    return float(rates[i]), np.asarray(cands[i])


@functools.lru_cache(maxsize=None)
def task_optimum(name: str, norm: str) -> float:
    """The brute-force universal optimum of ``TASKS[name]()`` (memoised across tests)."""
    f, x, eps = TASKS[name]()
    return exact_universal(f, x, norm, eps)[0]
