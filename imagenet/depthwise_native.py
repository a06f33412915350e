"""Depthwise convolution as a native XLA:CPU kernel (C++ through the XLA FFI), with its input gradient.

XLA:CPU has no library kernel for grouped (depthwise) convolutions: its own
emitter took 30-70 ms a layer here, and the YNNPACK/XNNPACK/oneDNN fusion flags
of jaxlib 0.10 do not take them. The shift-and-add formulation
(:func:`imagenet.depthwise.depthwise_shift`) is XLA's best, but XLA emits it 8 floats
wide without fused multiply-adds and materialises a padded copy of every input.
``native/depthwise.cc`` does the same sum with the padding handled by bounds, the
channel loop vectorised for the machine it is compiled on, and rows shared over
XLA's intra-op threads.

The source is compiled once per machine with the system C++ compiler (g++ or
``$CXX``; the headers ship with jaxlib) into ``native/`` of the cache directory
(``store.cache_root()``: ``$ROBUSTNESS_CACHE`` or ``~/.cache/robustness-geometry``),
keyed by the source, the jaxlib version and the CPU. If that fails, :func:`available` says why and
callers use the shift-and-add formulation, which gives the same numbers to float32
rounding.

Example:
    >>> import jax.numpy as jnp
    >>> from imagenet import depthwise_native
    >>> x, kernel = jnp.ones((1, 5, 5, 16)), jnp.ones((3, 3, 16))  # f32[n, h, w, c], f32[k, k, c]
    >>> y = depthwise_native.depthwise(x, kernel, 2)   # needs a C++ compiler: available()
    >>> y.shape, float(y[0, 1, 1, 0])
    ((1, 3, 3, 16), 9.0)
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from imagenet.taps import depthwise_kernel_gradient, same_pads
from store import cache_dir as store_cache_dir
from store import content_digest, write_bytes

SOURCE = Path(__file__).with_name("native") / "depthwise.cc"
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC", "-w")
# FFI target name -> symbol in the library
TARGETS = {
    "robustness_depthwise_forward": "DepthwiseForward",
    "robustness_depthwise_backward": "DepthwiseBackward",
    "robustness_activated_depthwise_forward": "ActivatedForward",
    "robustness_activated_depthwise_backward": "ActivatedBackward",
}


def _cpu_signature() -> str:
    """Model name and feature flags of this CPU (``-march=native`` code runs only on its like)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def library_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the compiled kernel for this source, jaxlib and CPU lives: ``<cache>/native/depthwise-<key>.so``."""
    key = content_digest(SOURCE.read_bytes(), " ".join(FLAGS), jax.__version__, _cpu_signature(), platform.machine())
    folder = Path(cache_dir) / "native" if cache_dir is not None else store_cache_dir("native")
    return folder / f"depthwise-{key[:16]}.so"


def build(cache_dir: str | os.PathLike | None = None) -> Path:
    """Compile ``native/depthwise.cc`` if this machine has no build of it yet; returns the library.

    The compiler writes into a temporary folder; the library is then written
    atomically (:func:`store.write_bytes`, with the mode the linker gave it), so a
    concurrent or interrupted build never leaves a half-written file.

    Raises:
      RuntimeError: no C++ compiler, or the compiler failed (its last lines quoted).
    """
    path = library_path(cache_dir)
    if path.exists():
        return path
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("no C++ compiler found (install g++ or set CXX)")
    with tempfile.TemporaryDirectory(prefix="depthwise-build-") as folder:
        built = Path(folder) / path.name
        done = subprocess.run([compiler, *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", str(built)],
                              capture_output=True, text=True)
        if done.returncode != 0 or not built.is_file():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or f"{compiler} exited with {done.returncode}"
            raise RuntimeError(f"compiling {SOURCE.name} failed: {tail}")
        write_bytes(path, built.read_bytes(), mode=stat.S_IMODE(built.stat().st_mode))
    return path


@functools.cache
def _load() -> str | None:
    """Build, load and register the kernels once; None on success, else the reason they are unavailable."""
    try:
        library = ctypes.CDLL(str(build()))
        for target, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")
    except (OSError, RuntimeError, AttributeError, ValueError) as error:
        return str(error)
    return None


def unavailable_reason() -> str | None:
    """None when the native kernels can be used here, else a one-line reason."""
    if jax.default_backend() != "cpu":
        return f"the default backend is {jax.default_backend()}, not cpu"
    return _load()


def available() -> bool:
    """True when the native kernels are built, loaded and the default backend is the CPU."""
    return unavailable_reason() is None


def _call(target: str, out_like: jax.Array, out_hw: tuple[int, int], stride: int, pads: tuple[int, int],
          *operands: jax.Array) -> jax.Array:
    reason = _load()
    if reason is not None:
        raise RuntimeError(f"the native depthwise kernel is unavailable: {reason}")
    out = jax.ShapeDtypeStruct((*out_like.shape[:-3], *out_hw, out_like.shape[-1]), jnp.float32)
    return jax.ffi.ffi_call(target, out, vmap_method="expand_dims")(
        *operands, stride=np.int64(stride), pad_top=np.int64(pads[0]), pad_left=np.int64(pads[1]))


def _geometry(x: jax.Array, k: int, stride: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(input h, w), (output h, w) and the (top, left) 'SAME' padding of a k x k conv."""
    h, w = x.shape[-3], x.shape[-2]
    return (h, w), (-(-h // stride), -(-w // stride)), (same_pads(h, k, stride)[0], same_pads(w, k, stride)[0])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def depthwise(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Depthwise conv with TF 'SAME' padding, computed by the native kernel.

    Same contract as :func:`imagenet.depthwise.depthwise_shift` (reverse mode only).

    Args:
      x: f32[n, h, w, c].
      kernel: f32[k, k, c].
      stride: 1 or 2.

    Returns:
      f32[n, ceil(h/stride), ceil(w/stride), c].
    """
    _, out_hw, pads = _geometry(x, kernel.shape[0], stride)
    return _call("robustness_depthwise_forward", x, out_hw, stride, pads, x, kernel)


def _forward(x, kernel, stride):
    return depthwise(x, kernel, stride), (x, kernel)


def _backward(stride, residuals, g):
    x, kernel = residuals
    in_hw, _, pads = _geometry(x, kernel.shape[0], stride)
    dx = _call("robustness_depthwise_backward", g, in_hw, stride, pads, g, kernel)
    return dx, depthwise_kernel_gradient(x, g, kernel.shape[0], stride)


depthwise.defvjp(_forward, _backward)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def activated_depthwise(z: jax.Array, offset: jax.Array, kernel: jax.Array, out_offset: jax.Array,
                        stride: int) -> jax.Array:
    """``relu6(depthwise(relu6(z + offset), kernel, stride) + out_offset)``, the middle of an MBConv block.

    ``z`` is the expand convolution's output before its (folded) BatchNorm offset
    and ReLU6: the activated tensor, the largest of the block, is formed tap by tap
    inside the kernel and never written out; the backward pass applies its ReLU6
    mask (``0 < z + offset < 6``, the derivative :func:`imagenet.network.relu6` uses)
    as it forms the input gradient. ``out_offset`` is the depthwise BatchNorm's
    offset (its scale is folded into ``kernel``).

    Args:
      z: f32[n, h, w, c].
      offset: f32[c].
      kernel: f32[k, k, c].
      out_offset: f32[c].
      stride: 1 or 2.

    Returns:
      f32[n, ceil(h/stride), ceil(w/stride), c], in [0, 6].
    """
    _, out_hw, pads = _geometry(z, kernel.shape[0], stride)
    return _call("robustness_activated_depthwise_forward", z, out_hw, stride, pads, z, offset, kernel, out_offset)


def _activated_forward(z, offset, kernel, out_offset, stride):
    y = activated_depthwise(z, offset, kernel, out_offset, stride)
    return y, (z, offset, kernel, y)


def _activated_backward(stride, residuals, g):
    z, offset, kernel, y = residuals
    g = jnp.where((y > 0.0) & (y < 6.0), g, jnp.zeros_like(g))  # the output ReLU6's derivative, as relu6's
    in_hw, _, pads = _geometry(z, kernel.shape[0], stride)
    dz = _call("robustness_activated_depthwise_backward", g, in_hw, stride, pads, g, kernel, offset, z)
    d_offset = jnp.sum(dz, axis=tuple(range(dz.ndim - 1)))
    d_kernel = depthwise_kernel_gradient(jnp.clip(z + offset, 0.0, 6.0), g, kernel.shape[0], stride)
    d_out_offset = jnp.sum(g, axis=tuple(range(g.ndim - 1)))
    return dz, d_offset, d_kernel, d_out_offset


activated_depthwise.defvjp(_activated_forward, _activated_backward)
