"""The native depthwise kernel (C++ through the XLA FFI) against the shift-and-add formulation in XLA."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from efficientnet_reference import (SIGMAS, depthwise_float64, depthwise_magnitudes, gamma, reference_net,
                                   rounded_logits)
from imagenet import depthwise_native as native
from imagenet import models
from imagenet.depthwise import Depthwise, depthwise_shift, resolve_depthwise
from imagenet.network import relu6

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every test but the fallback's needs the kernel built and loaded here; without a C++ compiler
# (CXX=false, no g++) or off the CPU they skip with the reason, and the fallback test still runs.
needs_kernel = pytest.mark.skipif(not native.available(), reason=f"native kernel: {native.unavailable_reason()}")

# (n, h, w, c, k, stride): odd sizes, channels below, at and past multiples of 16
SHAPES = [(2, 7, 8, 5, 3, 1), (2, 9, 10, 3, 5, 2), (3, 8, 9, 20, 3, 2), (2, 11, 12, 33, 5, 1),
          (1, 6, 6, 16, 3, 2), (2, 5, 7, 48, 5, 2), (1, 3, 3, 17, 5, 1)]


def _value_and_pullback(f, g, *args):
    """``f(*args)`` and the pullback of the cotangent ``g``, in one jitted program (one
    compilation a shape instead of one per eager op)."""
    def both(g, *args):
        value, pull = jax.vjp(f, *args)
        return value, pull(g)
    return jax.jit(both)(g, *args)


def shifted(z, offset, kernel, out_offset, stride):
    return relu6(depthwise_shift(relu6(z + offset), kernel, stride) + out_offset)


def activated_bounds(z, offset, kernel, out_offset, stride, g):
    """What rounding allows between two float32 computations of activated_depthwise and of its pullback of ``g``.

    Both form a = relu6(z + offset) with the same single rounded add. Each output's
    pre-activation, conv(a, kernel) + out_offset, is a sum of k*k + 1 products, within
    gamma_{k*k+1} times their magnitudes of the exact value in either (efficientnet_reference.gamma).
    An output that close to 0 or 6 may be clipped in one and not in the other, which changes
    its gradient from g to 0: the cotangent is zeroed there, so that both pull back through
    the same masks. A pullback's entry then sums at most k*k products (z), k*k for each of the
    n*h*w input pixels (offset), one per output position (kernel, out_offset).

    Returns: (the forward's bound, g with near-kink outputs zeroed, the pullbacks' bounds in
    the order z, offset, kernel, out_offset).
    """
    k = kernel.shape[0]
    z_offset = np.asarray(z + offset)
    a, live = np.clip(z_offset, 0.0, 6.0), (z_offset > 0) & (z_offset < 6)
    exact = depthwise_float64(a, kernel, stride, g)[0] + np.asarray(out_offset, np.float64)
    margin = gamma(k * k + 1) * (depthwise_magnitudes(a, kernel, g, stride)[0] + np.abs(np.asarray(out_offset)))
    near = (np.abs(exact) <= margin) | (np.abs(exact - 6) <= margin)
    g = np.where(near, 0.0, np.asarray(g)).astype(np.float32)
    passed = g * ((exact > 0) & (exact < 6))  # what the output ReLU6 passes back, the same in both now
    _, mag_dz, mag_dk = depthwise_magnitudes(a, kernel, passed, stride)
    mag_dz = mag_dz * live
    positions = g[..., 0].size
    pulls = (2 * gamma(k * k) * mag_dz, 2 * gamma(k * k * z[..., 0].size) * mag_dz.sum(axis=(0, 1, 2)),
             2 * gamma(positions) * mag_dk, 2 * gamma(positions) * np.abs(passed).sum(axis=(0, 1, 2)))
    return 2 * margin, g, pulls


def operands(n, h, w, c, k, seed=0):
    keys = jax.random.split(jax.random.key(seed), 5)
    z = 4.0 * jax.random.normal(keys[0], (n, h, w, c))  # wide enough that both ReLU6 bounds are hit
    return (z, jax.random.normal(keys[1], (c,)), jax.random.normal(keys[2], (k, k, c)),
            jax.random.normal(keys[3], (c,)), keys[4])


@needs_kernel
@pytest.mark.parametrize("n,h,w,c,k,stride", SHAPES)
def test_native_depthwise_matches_shift_and_its_gradients(n, h, w, c, k, stride):
    x, _, kernel, _, key = operands(n, h, w, c, k)
    g = jax.random.normal(key, (n, -(-h // stride), -(-w // stride), c))
    want, pulled_want = _value_and_pullback(lambda x, kk: depthwise_shift(x, kk, stride), g, x, kernel)
    got, pulled_got = _value_and_pullback(lambda x, kk: native.depthwise(x, kk, stride), g, x, kernel)
    assert got.shape == want.shape == g.shape
    # an output and an input's gradient sum at most k*k products, a kernel entry's gradient one
    # per output position: two float32 computations are within 2 gamma_n of their magnitudes
    mag_y, mag_dx, mag_dk = depthwise_magnitudes(x, kernel, g, stride)
    assert (np.abs(np.asarray(got) - np.asarray(want)) <= 2 * gamma(k * k) * mag_y).all()
    for name, a, b, bound in zip(("x", "kernel"), pulled_got, pulled_want,
                                 (2 * gamma(k * k) * mag_dx, 2 * gamma(g[..., 0].size) * mag_dk)):
        assert (np.abs(np.asarray(a) - np.asarray(b)) <= bound).all(), name


@needs_kernel
@pytest.mark.parametrize("n,h,w,c,k,stride", SHAPES)
def test_activated_depthwise_matches_its_composition(n, h, w, c, k, stride):
    z, offset, kernel, out_offset, key = operands(n, h, w, c, k, seed=1)
    args = (z, offset, kernel, out_offset)
    bound, g, pull_bounds = activated_bounds(*args, stride, jax.random.normal(key, (n, -(-h // stride),
                                                                                  -(-w // stride), c)))
    want, pulled_want = _value_and_pullback(lambda *a: shifted(*a, stride), g, *args)
    got, pulled_got = _value_and_pullback(lambda *a: native.activated_depthwise(*a, stride), g, *args)
    assert (np.abs(np.asarray(got) - np.asarray(want)) <= bound).all()
    assert 0.0 < float(jnp.mean((got > 0) & (got < 6))) < 1.0  # some outputs are clipped, some not
    for name, a, b, pull_bound in zip(("z", "offset", "kernel", "out_offset"), pulled_got, pulled_want, pull_bounds):
        assert (np.abs(np.asarray(a) - np.asarray(b)) <= pull_bound).all(), name


@needs_kernel
def test_vmap_over_cotangents_and_inputs():
    """DeepFool pulls several cotangents back at once (vmap of the vjp); batches of batches fold into one."""
    z, offset, kernel, out_offset, key = operands(2, 9, 9, 24, 3, seed=2)
    f_native = lambda z: native.activated_depthwise(z, offset, kernel, out_offset, 2)
    f_shift = lambda z: shifted(z, offset, kernel, out_offset, 2)
    bounds = [activated_bounds(z, offset, kernel, out_offset, 2, g) for g in jax.random.normal(key, (3, 2, 5, 5, 24))]
    cotangents = jnp.stack([g for _, g, _ in bounds])
    got = jax.vmap(jax.vjp(f_native, z)[1])(cotangents)[0]
    want = jax.vmap(jax.vjp(f_shift, z)[1])(cotangents)[0]
    assert (np.abs(np.asarray(got) - np.asarray(want)) <= np.stack([pulls[0] for _, _, pulls in bounds])).all()
    zs = jnp.stack([z, -z, 0.5 * z])
    forward_bounds = np.stack([activated_bounds(z, offset, kernel, out_offset, 2, cotangents[0])[0] for z in zs])
    assert (np.abs(np.asarray(jax.vmap(f_native)(zs)) - np.asarray(jax.vmap(f_shift)(zs))) <= forward_bounds).all()


@needs_kernel
def test_a_batched_kernel_is_refused_with_a_message():
    x, _, kernel, _, _ = operands(1, 6, 6, 16, 3)
    with pytest.raises(Exception, match="batched kernel"):
        jax.block_until_ready(jax.vmap(lambda kk: native.depthwise(x, kk, 1))(jnp.stack([kernel, kernel])))


@needs_kernel
def test_lite0_native_matches_shift_and_does_not_recompile(weight_cache):
    from bench.imagenet_bench import photo_batch

    x = jnp.asarray(photo_batch(4, 224))
    logits = {m: models.load_model("lite0", cache_dir=weight_cache, depthwise=m).logits_fn for m in ("native", "shift")}
    forward = jax.jit(lambda f, x: f(x))
    got, want = np.asarray(forward(logits["native"], x)), np.asarray(forward(logits["shift"], x))
    # each is within SIGMAS sigma of the exact logits (efficientnet_reference's rounding model), so
    # within twice that of each other; about 4e-4 to 7e-4 on logits spanning [-5, 12]
    with torch.no_grad():
        exact, sigma = rounded_logits(reference_net("efficientnet-lite0", torch.float64), torch.as_tensor(x).double())
    np.testing.assert_array_less(np.abs(got - want), 2 * SIGMAS * sigma.numpy())
    np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1))
    before = forward._cache_size()
    forward(jax.tree.map(lambda a: a * 0.5, logits["native"]), x)
    assert forward._cache_size() == before


@needs_kernel
def test_auto_is_native_on_one_cpu_device_and_bad_names_fail():
    assert jax.device_count() == 1 and resolve_depthwise("auto") is Depthwise.NATIVE
    assert resolve_depthwise("shift") is Depthwise.SHIFT and resolve_depthwise(Depthwise.GROUPED) is Depthwise.GROUPED
    with pytest.raises(ValueError, match="'fast'.*auto, shift, grouped, native"):
        resolve_depthwise("fast")
    with pytest.raises(ValueError, match="no fused activation"):
        Depthwise.SHIFT.activated(*operands(1, 6, 6, 16, 3)[:4], 1)


@needs_kernel
def test_build_is_cached_atomic_and_keyed_by_source(tmp_path):
    path = native.build(tmp_path)
    assert path.exists() and native.build(tmp_path) == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    assert path == native.library_path(tmp_path) and path.parent == tmp_path / "native"


def test_no_compiler_falls_back_to_shift_with_a_warning(tmp_path):
    """A machine without a working C++ compiler still runs (shift-and-add), and says why."""
    # the CPU backend (a GPU's default would pick shift without trying the kernel), one device
    env = dict(os.environ, CXX="false", ROBUSTNESS_CACHE=str(tmp_path), PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    code = "from imagenet import resolve_depthwise; print(resolve_depthwise('auto').value)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shift"
    assert "native depthwise kernel unavailable (compiling depthwise.cc failed" in done.stderr
    assert not list((tmp_path / "native").glob("*"))  # nothing half-written
