"""The taps of a k x k convolution with TF 'SAME' padding: the padding, one tap's window, the kernel gradient.

A k x k convolution is a sum over its k*k taps of a strided window of the padded
input times one kernel entry. The shift-and-add depthwise formulation
(:mod:`imagenet.depthwise`), the native kernel's kernel gradient
(:mod:`imagenet.depthwise_native`) and the patch-matmul stem
(:func:`imagenet.network.conv_same`) all read their windows here.

Example:
    >>> same_pads(224, 3, 2)  # the odd extra row goes at the bottom
    (0, 1)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (low, high) of one spatial axis; the odd extra goes high."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def tap_window(xp: jax.Array, top: int, left: int, size: tuple[int, int], stride: int) -> jax.Array:
    """``xp[:, top + stride*a, left + stride*b, :]`` for ``a, b`` in ``range(size)``: one kernel tap's inputs.

    Args: xp f32[n, H, W, c] (padded), the tap's first row and column, the output
    ``size`` (rows, cols) and the stride. Returns f32[n, rows, cols, c].
    """
    n, c = xp.shape[0], xp.shape[-1]
    return lax.slice(xp, (0, top, left, 0),
                     (n, top + stride * (size[0] - 1) + 1, left + stride * (size[1] - 1) + 1, c),
                     (1, stride, stride, 1))


def depthwise_kernel_gradient(x: jax.Array, g: jax.Array, k: int, stride: int) -> jax.Array:
    """``d kernel[i, j] = sum`` over batch and positions of the tap's input patch times ``g``.

    Args: x f32[n, h, w, c] (the conv's input), g f32[n, ho, wo, c] (its output's
    gradient), k the kernel size, stride 1 or 2. Returns f32[k, k, c]. XLA drops it
    when only the input gradient is used.
    """
    _, h, w, _ = x.shape
    ho, wo = g.shape[1], g.shape[2]
    xp = jnp.pad(x, ((0, 0), same_pads(h, k, stride), same_pads(w, k, stride), (0, 0)))
    return jnp.stack([jnp.stack([jnp.sum(tap_window(xp, i, j, (ho, wo), stride) * g, axis=(0, 1, 2))
                                 for j in range(k)]) for i in range(k)])
