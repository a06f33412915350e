"""The bound-propagation engine on any JAX function: sound at sampled points, exact where
the function is linear, tight on small boxes, one compilation per architecture, and a
one-line error for a primitive it cannot bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen, nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from categories import UnsupportedPrimitive, bound_boxes, trace_program
from categories.bounds import _KERNELS, _kernel


ACTS = {
    "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "gelu": jax.nn.gelu,
    "gelu-erf": lambda t: jax.nn.gelu(t, approximate=False), "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu, "silu": jax.nn.silu, "softplus": jax.nn.softplus, "relu6": jax.nn.relu6,
    "abs": jnp.abs, "square": jnp.square, "cube": lambda t: t ** 3, "sin": jnp.sin,
    "exp-log1p": lambda t: jnp.log1p(jnp.exp(-jnp.abs(t))), "erf": jax.scipy.special.erf,
    "rational": lambda t: t / (1.0 + t * t), "clip": lambda t: jnp.clip(t, -0.5, 0.7),
    "hard_tanh": jax.nn.hard_tanh, "maxout-pairs": lambda t: jnp.maximum(t, t[:, ::-1]),
    "where": lambda t: jnp.where(t > 0.1, t, 0.2 * t - 0.02),
}


def _margins(f, x0, u, label):
    """The margin ``z_label - max_{j != label} z_j`` at ``x0 + u`` (u: ``[S, B, 2]``)."""
    pts = (x0[None] + u).reshape(-1, 2)
    z = np.asarray(f(jnp.asarray(pts)), np.float64).reshape(u.shape[0], x0.shape[0], -1)
    own = np.take_along_axis(z, label[None, :, None], 2)[..., 0]
    other = np.where(np.eye(z.shape[-1], dtype=bool)[label][None], -np.inf, z).max(-1)
    return own - other


def _sampled_check(f, seed, boxes=256, samples=64):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1.5, 1.5, (boxes, 2)).astype(np.float32)
    half = rng.uniform(0.0, 0.4, (boxes, 2)).astype(np.float32)
    label = rng.integers(0, 3, boxes).astype(np.int32)
    lb, ub, _ = bound_boxes(trace_program(f, (2,)), x0, -half, half, 0 * half, label,
                            norm="inf", eps=1.0)
    # the box's corners and random points inside it
    u = rng.uniform(-1, 1, (samples, boxes, 2))
    u[:4] = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]])[:, None]
    m = _margins(f, x0, u * half, label)
    # float32 forward passes of the sampled margins: a few ulps of their size
    tol = 1e-5 * (1 + np.abs(m).max())
    assert np.isfinite(lb).all() and (lb <= ub).all()
    assert (m.min(0) >= lb - tol).all(), np.min(m.min(0) - lb)
    assert (m.max(0) <= ub + tol).all(), np.min(ub - m.max(0))
    return lb, ub, m


@pytest.mark.parametrize("name", sorted(ACTS))
def test_bounds_hold_at_sampled_points_for_every_activation(name, hand_written_mlp):
    lb, ub, m = _sampled_check(hand_written_mlp(ACTS[name], seed=len(name)), seed=1)
    # and they are not vacuous: the width over a box is within a few times the range seen
    assert np.median((ub - lb) / (m.max(0) - m.min(0) + 1e-3)) < 50


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 3),
       act=st.sampled_from(["relu", "tanh", "gelu", "sigmoid", "softplus"]))
def test_bounds_hold_for_random_networks(seed, depth, act, hand_written_mlp):
    sizes = (2,) + (8,) * depth + (3,)
    _sampled_check(hand_written_mlp(ACTS[act], sizes, seed), seed=seed, boxes=64, samples=32)


def test_a_linear_classifier_is_bounded_exactly():
    w = jnp.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]])
    f = lambda x: x @ w + jnp.array([0.1, 0.0, -0.2])    # noqa: E731
    x0 = np.array([[0.3, -0.2]], np.float32)
    half = np.array([[0.1, 0.05]], np.float32)
    lb, ub, _ = bound_boxes(trace_program(f, (2,)), x0, -half, half, 0 * half, [0],
                            norm="inf", eps=1.0)
    # z0 - z1 = 3 a - 0.5 b + 0.1, z0 - z2 = 0.5 a + 1.5 b + 0.3 over the box: both linear,
    # the margin is their minimum, so its ends are the smaller of their ends
    a, b = np.meshgrid(np.linspace(0.2, 0.4, 201), np.linspace(-0.25, -0.15, 201))
    margin = np.minimum(3 * a - 0.5 * b + 0.1, 0.5 * a + 1.5 * b + 0.3)
    assert lb[0] == pytest.approx(margin.min(), abs=1e-5)
    # the upper bound is the smaller of the two maxima (each linear piece exactly)
    assert ub[0] == pytest.approx(min((3 * a - 0.5 * b + 0.1).max(),
                                      (0.5 * a + 1.5 * b + 0.3).max()), abs=1e-5)


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu", "softplus"])
def test_bounds_close_in_on_small_boxes(name, hand_written_mlp):
    f = hand_written_mlp(ACTS[name], seed=3)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    label = np.asarray(f(jnp.asarray(x0)).argmax(-1)).astype(np.int32)
    p = trace_program(f, (2,))
    widths = []
    for h in (1e-1, 1e-2, 1e-3):
        half = np.full_like(x0, h)
        lb, ub, _ = bound_boxes(p, x0, -half, half, 0 * half, label, norm="inf", eps=1.0)
        widths.append(np.median(ub - lb))
    # first order in the box: ten times smaller boxes, about ten times narrower bounds
    assert widths[1] < 0.2 * widths[0] and widths[2] < 0.2 * widths[1], widths


def test_flax_modules_and_jitted_functions_are_read_alike():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Linear(2, 12, rngs=rngs)
            self.b = nnx.Linear(12, 3, rngs=rngs)

        def __call__(self, x):
            return self.b(nnx.gelu(self.a(x)))

    class LinenNet(linen.Module):
        @linen.compact
        def __call__(self, x):
            return linen.Dense(3)(linen.tanh(linen.Dense(12)(x)))

    model = Net(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    nnx_fn = jax.tree_util.Partial(lambda g, s, x: nnx.merge(g, s)(x), graphdef, state)
    lin = LinenNet()
    params = lin.init(jax.random.key(0), jnp.zeros((1, 2)))
    for f in (nnx_fn, jax.jit(lambda x: model(x)), jax.tree_util.Partial(lin.apply, params)):
        _sampled_check(f, seed=4, boxes=64, samples=16)


def test_one_compilation_per_architecture(hand_written_mlp):
    f1, f2 = hand_written_mlp(jnp.tanh, seed=10), hand_written_mlp(jnp.tanh, seed=11)
    p1, p2 = trace_program(f1, (2,)), trace_program(f2, (2,))
    assert p1.key == p2.key and _kernel(p1) is _kernel(p2)
    args = [np.zeros((3, 2), np.float32)] * 4 + [np.zeros(3, np.int32)]
    bound_boxes(p1, *args, norm="2", eps=0.1)
    size = _kernel(p1)._cache_size()
    lb2 = bound_boxes(p2, *args, norm="2", eps=0.1)[0]
    assert _kernel(p1)._cache_size() == size          # the new weights did not recompile
    assert not np.allclose(bound_boxes(p1, *args, norm="2", eps=0.1)[0], lb2)
    other = trace_program(hand_written_mlp(jnp.tanh, (2, 7, 3), seed=10), (2,))
    assert other.key != p1.key and other.key in _KERNELS


def test_an_unsupported_primitive_is_one_line_naming_it():
    f = lambda x: jnp.sort(x, axis=1) @ jnp.ones((2, 3))  # noqa: E731
    with pytest.raises(UnsupportedPrimitive, match="primitive 'sort'") as err:
        trace_program(f, (2,))
    assert "\n" not in str(err.value)
    # the same primitive on the weights alone is fine: only what the input flows through
    # is bounded
    w = jnp.array([[3.0, 1.0, 2.0], [0.0, 1.0, 0.0]])
    g = lambda x: x @ jnp.sort(w, axis=1)              # noqa: E731
    assert trace_program(g, (2,)).classes == 3
    with pytest.raises(ValueError, match=r"f32\[n, classes\]"):
        trace_program(lambda x: x.sum(1), (2,))
