"""EfficientNet-Lite as Flax NNX modules, and its pure forward pass :func:`apply_logits`.

TF 'SAME' padding (asymmetric at stride 2: the extra row/column goes at the
bottom/right), BatchNorm eps 1e-3, ReLU6, and input scaling ``(x - 127) / 128``
inside the model, so the network takes RGB pixels in [0, 255].

Every convolution is followed by a BatchNorm. A network is built either with its
BatchNorms (``folded=False``: the running statistics are parameters, and each call
folds them into the kernels) or already folded (``folded=True``: each layer holds
the folded kernel and the BatchNorm's offset, as :func:`imagenet.weights.fold_batchnorm`
fills them). The structure is fixed at construction; nothing is attached later.

Example:
    >>> from flax import nnx
    >>> graphdef, state = nnx.split(EfficientNetLite("lite0", Depthwise.SHIFT, folded=True))
    >>> x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    >>> jax.eval_shape(apply_logits, graphdef, state, x).shape
    (2, 1000)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from imagenet.depthwise import Depthwise
from imagenet.specs import (BN_EPS, HEAD_CHANNELS, NUM_CLASSES, PIXEL_MEAN, PIXEL_STD, STEM_CHANNELS, BlockSpec,
                            block_specs, resolve_model_name)
from imagenet.taps import same_pads, tap_window


def conv_same(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Dense conv, NHWC/HWIO, TF 'SAME' padding, as a matmul where that is faster.

    1x1 stride-1 convs are plain matmuls. A conv of at most 4 input channels (the
    stem, on RGB) is a matmul of its k*k*c-wide patches: XLA:CPU's convolution of 3
    channels ran at ~40% of that speed here (Lite0's stem at batch 8, forward: 5.4
    against 2.1 ms).
    """
    kh, kw, cin, cout = kernel.shape
    if kh == kw == 1 and stride == 1:
        return jnp.einsum("nhwc,cd->nhwd", x, kernel[0, 0])
    pads = (same_pads(x.shape[1], kh, stride), same_pads(x.shape[2], kw, stride))
    if cin <= 4:
        ho, wo = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
        xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
        patches = jnp.concatenate([tap_window(xp, i, j, (ho, wo), stride) for i in range(kh) for j in range(kw)],
                                  axis=-1)
        return jnp.einsum("nhwk,kd->nhwd", patches, kernel.reshape(kh * kw * cin, cout))
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@jax.custom_jvp
def relu6(x: jax.Array) -> jax.Array:
    """``clip(x, 0, 6)`` whose derivative is the mask ``0 < y < 6`` of the output.

    jnp.clip's own derivative goes through max/min's tie-balancing (selects and a
    divide); this mask is one compare pair (forward+input-gradient of lite0: 1.82
    -> 1.77 GFLOP and 844 -> 793 MB accessed per image in XLA's cost analysis).
    """
    return jnp.clip(x, 0.0, 6.0)


@relu6.defjvp
def _relu6_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = relu6(x)
    return y, jnp.where((y > 0.0) & (y < 6.0), t, jnp.zeros_like(t))


class BatchNorm(nnx.Module):
    """Inference BatchNorm over the last axis (running statistics, eps 1e-3)."""

    def __init__(self, channels: int):
        self.scale = nnx.Param(jnp.ones((channels,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((channels,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((channels,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((channels,), jnp.float32))

    def fold(self) -> tuple[jax.Array, jax.Array]:
        """(multiplier, offset) with ``bn(y) = y * multiplier + offset``."""
        mult = self.scale[...] * lax.rsqrt(self.var[...] + BN_EPS)
        return mult, self.bias[...] - self.mean[...] * mult


class _ConvWithBatchNorm(nnx.Module):
    """A kernel followed by a BatchNorm: the BatchNorm itself, or (``folded``) its offset alone."""

    def _norm(self, channels: int, folded: bool) -> None:
        self.folded = folded
        if folded:
            self.offset = nnx.Param(jnp.zeros((channels,), jnp.float32))
        else:
            self.bn = BatchNorm(channels)

    def folded_kernel(self) -> tuple[jax.Array, jax.Array]:
        """(the kernel with the BN scale folded in, the BN offset): ``bn(conv(x, k)) = conv(x, k') + offset``.

        A folded layer returns the two as it holds them; otherwise they are formed
        from the BN statistics on every call (the same float32 products).
        """
        if self.folded:
            return self.kernel[...], self.offset[...]
        mult, offset = self.bn.fold()
        return self.kernel[...] * mult, offset


class ConvBN(_ConvWithBatchNorm):
    """Dense conv (no bias) + BatchNorm (+ ReLU6), the BN folded into the kernel."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, *, relu: bool = True,
                 folded: bool = False):
        self.kernel = nnx.Param(jnp.zeros((kernel, kernel, in_channels, out_channels), jnp.float32))
        self._norm(out_channels, folded)
        self.stride = stride
        self.relu = relu

    def preactivation(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(conv with the BN scale folded in, the BN offset): ``bn(conv(x)) = z + offset``."""
        kernel, offset = self.folded_kernel()
        return conv_same(x, kernel, self.stride), offset

    def __call__(self, x: jax.Array) -> jax.Array:
        z, offset = self.preactivation(x)
        return relu6(z + offset) if self.relu else z + offset


class DepthwiseBN(_ConvWithBatchNorm):
    """Depthwise conv + BatchNorm + ReLU6, the BN folded into the kernel."""

    def __init__(self, channels: int, kernel: int, stride: int, method: Depthwise = Depthwise.SHIFT, *,
                 folded: bool = False):
        self.kernel = nnx.Param(jnp.zeros((kernel, kernel, channels), jnp.float32))
        self._norm(channels, folded)
        self.stride = stride
        self.method = Depthwise(method)

    def __call__(self, x: jax.Array, input_offset: jax.Array | None = None) -> jax.Array:
        """``relu6(bn(dwconv(x)))``; with ``input_offset`` (fused methods only), of ``relu6(x + input_offset)``."""
        kernel, offset = self.folded_kernel()
        if input_offset is None:
            return relu6(self.method(x, kernel, self.stride) + offset)
        return self.method.activated(x, input_offset, kernel, offset, self.stride)


class MBConv(nnx.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 project, identity skip."""

    def __init__(self, spec: BlockSpec, method: Depthwise = Depthwise.SHIFT, *, folded: bool = False):
        self.expand = (ConvBN(spec.in_channels, spec.expanded, folded=folded)
                       if spec.expanded != spec.in_channels else None)
        self.depthwise = DepthwiseBN(spec.expanded, spec.kernel, spec.stride, method, folded=folded)
        self.project = ConvBN(spec.expanded, spec.out_channels, relu=False, folded=folded)
        self.skip = spec.stride == 1 and spec.in_channels == spec.out_channels

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.expand is None:
            y = self.depthwise(x)
        elif self.depthwise.method.fuses_activation:  # the expand's ReLU6 runs inside the depthwise kernel
            y = self.depthwise(*self.expand.preactivation(x))
        else:
            y = self.depthwise(self.expand(x))
        y = self.project(y)
        return y + x if self.skip else y


class EfficientNetLite(nnx.Module):
    """EfficientNet-Lite classifier on RGB pixels in [0, 255], NHWC.

    Args:
      name: model name or alias.
      method: the depthwise formulation (a :class:`Depthwise` or its value).
      folded: build the layers with their BatchNorms folded (see the module docstring).
    """

    def __init__(self, name: str, method: Depthwise | str = Depthwise.SHIFT, *, folded: bool = False):
        self.model_name = resolve_model_name(name)
        self.method = Depthwise(method)
        self.folded = folded
        specs = block_specs(self.model_name)
        self.stem = ConvBN(3, STEM_CHANNELS, kernel=3, stride=2, folded=folded)
        self.blocks = nnx.List([MBConv(spec, self.method, folded=folded) for spec in specs])
        self.head = ConvBN(specs[-1].out_channels, HEAD_CHANNELS, folded=folded)
        self.fc_kernel = nnx.Param(jnp.zeros((HEAD_CHANNELS, NUM_CLASSES), jnp.float32))
        self.fc_bias = nnx.Param(jnp.zeros((NUM_CLASSES,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Args: x f32[n, h, w, 3] in [0, 255]. Returns: f32[n, 1000] logits."""
        y = self.stem((x - PIXEL_MEAN) / PIXEL_STD)
        for block in self.blocks:
            y = block(y)
        y = jnp.mean(self.head(y), axis=(1, 2))
        return y @ self.fc_kernel[...] + self.fc_bias[...]


def apply_logits(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> jax.Array:
    """Pure forward pass: ``f32[n, res, res, 3]`` pixels in [0, 255] -> ``f32[n, 1000]`` logits."""
    return nnx.merge(graphdef, state)(x)
