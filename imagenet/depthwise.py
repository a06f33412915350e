"""Depthwise convolution three ways, and the choice between them (:class:`Depthwise`).

- :attr:`Depthwise.NATIVE`: the C++ kernel of :mod:`imagenet.depthwise_native`
  (single CPU device), which can also fuse the block's surrounding BatchNorm offsets
  and ReLU6s (:meth:`Depthwise.activated`);
- :attr:`Depthwise.SHIFT`: :func:`depthwise_shift`, a sum of shifted (strided)
  slices times per-channel weights in XLA, with a hand-written backward pass; it
  compiles and shards on any device;
- :attr:`Depthwise.GROUPED`: :func:`depthwise_grouped`, XLA's grouped convolution.

All three take ``x f32[n, h, w, c]``, ``kernel f32[k, k, c]`` and a stride of 1 or 2,
and return ``f32[n, ceil(h/stride), ceil(w/stride), c]`` with TF 'SAME' padding;
they agree to float32 rounding. :func:`resolve_depthwise` turns the command line's
``"auto" | "native" | "shift" | "grouped"`` into a member.

Example:
    >>> import jax.numpy as jnp
    >>> y = Depthwise.SHIFT(jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2)), 2)
    >>> y.shape, float(y[0, 1, 1, 0])
    ((1, 3, 3, 2), 9.0)
    >>> resolve_depthwise("grouped")
    <Depthwise.GROUPED: 'grouped'>
"""

from __future__ import annotations

import enum
import functools
import warnings

import jax
import jax.numpy as jnp
from jax import lax

from imagenet import depthwise_native
from imagenet.taps import depthwise_kernel_gradient, same_pads, tap_window


def _shift_sum(xp: jax.Array, kernel: jax.Array, offsets: tuple[int, int], size: tuple[int, int],
               stride: int, flip: bool = False) -> jax.Array:
    """``sum_ij xp[:, oh + s*a + i', ow + s*b + j', :] * kernel[i, j]`` over the k x k taps.

    ``i' = i`` (correlation) or ``i' = k - 1 - i`` (``flip``, convolution); the
    output is ``size`` = (rows, cols). One fused elementwise loop under XLA.
    """
    k = kernel.shape[0]
    out = None
    for i in range(k):
        for j in range(k):
            oi, oj = offsets[0] + (k - 1 - i if flip else i), offsets[1] + (k - 1 - j if flip else j)
            term = tap_window(xp, oi, oj, size, stride) * kernel[i, j]
            out = term if out is None else out + term
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def depthwise_shift(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Depthwise conv as a sum of shifted (strided) slices times per-channel weights.

    The backward pass is again a shift-and-add (of the stride-dilated output
    gradient with the flipped kernel): XLA's own transpose of the strided slices
    is ~15x slower on CPU. Reverse mode only (no jvp/jacfwd).

    Args:
      x: f32[n, h, w, c].
      kernel: f32[k, k, c].
      stride: 1 or 2.

    Returns:
      f32[n, ceil(h/stride), ceil(w/stride), c], TF 'SAME' padding.
    """
    k = kernel.shape[0]
    _, h, w, _ = x.shape
    xp = jnp.pad(x, ((0, 0), same_pads(h, k, stride), same_pads(w, k, stride), (0, 0)))
    return _shift_sum(xp, kernel, (0, 0), (-(-h // stride), -(-w // stride)), stride)


def _depthwise_shift_fwd(x, kernel, stride):
    return depthwise_shift(x, kernel, stride), (x, kernel)


def _depthwise_shift_bwd(stride, residuals, g):
    x, kernel = residuals
    k = kernel.shape[0]
    _, h, w, _ = x.shape
    top, left = same_pads(h, k, stride)[0], same_pads(w, k, stride)[0]
    # d x_padded[u] = sum_i g_dilated[u - i]: dilate g by the stride, pad by k - 1, correlate flipped
    ho, wo = g.shape[1], g.shape[2]
    high_h = max(k - 1, h + top + k - 1 - (stride * (ho - 1) + k))
    high_w = max(k - 1, w + left + k - 1 - (stride * (wo - 1) + k))
    gd = lax.pad(g, jnp.zeros((), g.dtype),
                 ((0, 0, 0), (k - 1, high_h, stride - 1), (k - 1, high_w, stride - 1), (0, 0, 0)))
    dx = _shift_sum(gd, kernel, (top, left), (h, w), 1, flip=True)
    return dx, depthwise_kernel_gradient(x, g, k, stride)


depthwise_shift.defvjp(_depthwise_shift_fwd, _depthwise_shift_bwd)


def depthwise_grouped(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Depthwise conv via XLA's grouped convolution (feature_group_count = channels).

    Same contract as :func:`depthwise_shift`.
    """
    k, c = kernel.shape[0], kernel.shape[-1]
    pads = (same_pads(x.shape[1], k, stride), same_pads(x.shape[2], k, stride))
    return lax.conv_general_dilated(
        x,
        kernel.reshape(k, k, 1, c),
        window_strides=(stride, stride),
        padding=pads,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c,
    )


class Depthwise(enum.Enum):
    """A formulation of the depthwise convolution; a member is the function itself.

    ``Depthwise.SHIFT(x, kernel, stride)`` convolves (see the module docstring);
    :attr:`fuses_activation` says whether :meth:`activated` (the middle of an MBConv
    block as one kernel) is available.
    """

    SHIFT = "shift"
    GROUPED = "grouped"
    NATIVE = "native"

    def __call__(self, x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
        """``x f32[n, h, w, c]``, ``kernel f32[k, k, c]`` -> f32[n, ceil(h/stride), ceil(w/stride), c]."""
        if self is Depthwise.NATIVE:
            return depthwise_native.depthwise(x, kernel, stride)
        if self is Depthwise.SHIFT:
            return depthwise_shift(x, kernel, stride)
        return depthwise_grouped(x, kernel, stride)

    @property
    def fuses_activation(self) -> bool:
        """True when :meth:`activated` runs as one kernel (the native formulation)."""
        return self is Depthwise.NATIVE

    def activated(self, z: jax.Array, offset: jax.Array, kernel: jax.Array, out_offset: jax.Array,
                  stride: int) -> jax.Array:
        """``relu6(depthwise(relu6(z + offset), kernel, stride) + out_offset)`` in one native kernel.

        See :func:`imagenet.depthwise_native.activated_depthwise`.

        Raises:
          ValueError: this formulation does not fuse the activation (:attr:`fuses_activation`).
        """
        if not self.fuses_activation:
            raise ValueError(f"the {self.value} depthwise formulation has no fused activation; use native")
        return depthwise_native.activated_depthwise(z, offset, kernel, out_offset, stride)


def resolve_depthwise(depthwise: str | Depthwise = "auto") -> Depthwise:
    """The formulation to use: ``"auto"`` is native on a single CPU device, else shift.

    The native kernel (:mod:`imagenet.depthwise_native`) is a custom call that
    XLA's partitioner cannot split over devices, so with several devices (or a
    GPU/TPU) the shift-and-add formulation runs, which XLA shards and compiles
    everywhere. If the native kernel cannot be built here, ``"auto"`` falls back to
    shift with a one-time warning naming the reason.

    Args:
      depthwise: a :class:`Depthwise`, its value (``"native"``, ``"shift"``,
        ``"grouped"``) or ``"auto"``.

    Raises:
      ValueError: an unknown method.
    """
    if isinstance(depthwise, Depthwise):
        return depthwise
    if depthwise != "auto":
        try:
            return Depthwise(depthwise)
        except ValueError:
            names = ", ".join(m.value for m in Depthwise)
            raise ValueError(f"unknown depthwise method {depthwise!r}; choose one of auto, {names}") from None
    if jax.default_backend() != "cpu" or jax.device_count() != 1:
        return Depthwise.SHIFT
    reason = depthwise_native.unavailable_reason()
    if reason is not None:
        _warn_native_unavailable(reason)
        return Depthwise.SHIFT
    return Depthwise.NATIVE


@functools.cache
def _warn_native_unavailable(reason: str) -> None:
    warnings.warn(f"native depthwise kernel unavailable ({reason}); using the slower shift-and-add formulation",
                  RuntimeWarning, stacklevel=3)
