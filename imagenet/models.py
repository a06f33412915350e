"""Flax NNX ports of EfficientNet-Lite0/1/2 with their ImageNet weights.

The architecture is the TF EfficientNet-Lite (no squeeze-excite, ReLU6, fixed
32-channel stem and 1280-channel head), with TF 'SAME' padding (asymmetric at
stride 2: the extra row/column goes at the bottom/right), BatchNorm eps 1e-3,
and input scaling ``(x - 127) / 128`` applied inside the model, so a classifier
takes RGB pixels in [0, 255].

The depthwise convolutions run as a native XLA:CPU kernel on a single CPU device
(:mod:`imagenet.depthwise_native`, which also fuses the surrounding BatchNorm
offsets and ReLU6s) and as a shift-and-add in XLA elsewhere (:func:`depthwise_shift`);
see :func:`resolve_depthwise`.

The hot path is a pure function of the model state: :func:`load_model` builds
the NNX module, loads the weights, calls ``nnx.split`` once and returns
``jax.tree_util.Partial(apply_logits, graphdef, state)``. The graphdef is a
leafless pytree, so swapping in other weights of the same architecture does
not recompile, and the state is replicated when the batch axis is sharded.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

# canonical name -> input resolution
MODELS = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}
ALIASES = {"lite0": "efficientnet-lite0", "lite1": "efficientnet-lite1", "lite2": "efficientnet-lite2"}

# name -> (width multiplier, depth multiplier)
SCALING = {"efficientnet-lite0": (1.0, 1.0), "efficientnet-lite1": (1.0, 1.1), "efficientnet-lite2": (1.1, 1.2)}

# EfficientNet-B0 stages: (kernel, stride, expand ratio, output channels, repeats)
BASE_STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0


class Classifier(NamedTuple):
    """A loaded model: ``logits_fn(x f32[n, res, res, 3] in [0, 255]) -> f32[n, 1000]``."""

    name: str
    resolution: int
    logits_fn: Callable[[jax.Array], jax.Array]


class BlockSpec(NamedTuple):
    """One MBConv block: input/expanded/output channels, depthwise kernel and stride."""

    in_channels: int
    expanded: int
    out_channels: int
    kernel: int
    stride: int


def resolve_model_name(name: str) -> str:
    """Canonical model name for ``name`` or one of its aliases (lite0/lite1/lite2).

    Raises:
      ValueError: naming the bad value and listing the valid names.
    """
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in MODELS:
        valid = ", ".join([*MODELS, *ALIASES])
        raise ValueError(f"unknown model {name!r}; choose one of {valid}")
    return key


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TF EfficientNet channel rounding for a width multiplier."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def block_specs(name: str) -> tuple[BlockSpec, ...]:
    """The MBConv blocks of a model, in order (Lite: first/last stage depth not scaled)."""
    width, depth = SCALING[resolve_model_name(name)]
    specs = []
    in_channels = STEM_CHANNELS
    for index, (kernel, stride, expand, out, repeats) in enumerate(BASE_STAGES):
        out = round_filters(out, width)
        if 0 < index < len(BASE_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        for r in range(repeats):
            specs.append(BlockSpec(in_channels, in_channels * expand, out, kernel, stride if r == 0 else 1))
            in_channels = out
    return tuple(specs)


# ----------------------------------------------------------------------------- layers


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


def depthwise_native(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Depthwise conv by the native XLA:CPU kernel (:mod:`imagenet.depthwise_native`).

    Same contract as :func:`depthwise_shift`.
    """
    from imagenet.depthwise_native import depthwise

    return depthwise(x, kernel, stride)


DEPTHWISE = {"shift": depthwise_shift, "grouped": depthwise_grouped, "native": depthwise_native}


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


def folded_kernel(layer: "ConvBN | DepthwiseBN") -> tuple[jax.Array, jax.Array]:
    """(the layer's kernel with its BN scale folded in, the BN offset): ``bn(conv(x, k)) = conv(x, k') + offset``.

    After :func:`fold_batchnorm` the two are stored and returned as they are;
    before, they are formed from the BN statistics on every call.
    """
    if layer.bn is None:
        return layer.kernel[...], layer.offset[...]
    mult, offset = layer.bn.fold()
    return layer.kernel[...] * mult, offset


class ConvBN(nnx.Module):
    """Dense conv (no bias) + BatchNorm (+ ReLU6), the BN folded into the kernel."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, *, relu: bool = True):
        self.kernel = nnx.Param(jnp.zeros((kernel, kernel, in_channels, out_channels), jnp.float32))
        self.bn = BatchNorm(out_channels)
        self.stride = stride
        self.relu = relu

    def preactivation(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(conv with the BN scale folded in, the BN offset): ``bn(conv(x)) = z + offset``."""
        kernel, offset = folded_kernel(self)
        return conv_same(x, kernel, self.stride), offset

    def __call__(self, x: jax.Array) -> jax.Array:
        z, offset = self.preactivation(x)
        return relu6(z + offset) if self.relu else z + offset


class DepthwiseBN(nnx.Module):
    """Depthwise conv + BatchNorm + ReLU6, the BN folded into the kernel."""

    def __init__(self, channels: int, kernel: int, stride: int, depthwise: str = "shift"):
        self.kernel = nnx.Param(jnp.zeros((kernel, kernel, channels), jnp.float32))
        self.bn = BatchNorm(channels)
        self.stride = stride
        self.depthwise = depthwise

    def __call__(self, x: jax.Array, input_offset: jax.Array | None = None) -> jax.Array:
        """``relu6(bn(dwconv(x)))``; with ``input_offset`` (native kernel only), of ``relu6(x + input_offset)``."""
        kernel, offset = folded_kernel(self)
        if input_offset is None:
            return relu6(DEPTHWISE[self.depthwise](x, kernel, self.stride) + offset)
        from imagenet.depthwise_native import activated_depthwise

        return activated_depthwise(x, input_offset, kernel, offset, self.stride)


class MBConv(nnx.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 project, identity skip."""

    def __init__(self, spec: BlockSpec, depthwise: str = "shift"):
        self.expand = ConvBN(spec.in_channels, spec.expanded) if spec.expanded != spec.in_channels else None
        self.depthwise = DepthwiseBN(spec.expanded, spec.kernel, spec.stride, depthwise)
        self.project = ConvBN(spec.expanded, spec.out_channels, relu=False)
        self.skip = spec.stride == 1 and spec.in_channels == spec.out_channels

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.expand is None:
            y = self.depthwise(x)
        elif self.depthwise.depthwise == "native":  # the expand's ReLU6 runs inside the depthwise kernel
            y = self.depthwise(*self.expand.preactivation(x))
        else:
            y = self.depthwise(self.expand(x))
        y = self.project(y)
        return y + x if self.skip else y


class EfficientNetLite(nnx.Module):
    """EfficientNet-Lite classifier on RGB pixels in [0, 255], NHWC."""

    def __init__(self, name: str, depthwise: str = "shift"):
        specs = block_specs(name)
        self.stem = ConvBN(3, STEM_CHANNELS, kernel=3, stride=2)
        self.blocks = nnx.List([MBConv(spec, depthwise) for spec in specs])
        self.head = ConvBN(specs[-1].out_channels, HEAD_CHANNELS)
        self.fc_kernel = nnx.Param(jnp.zeros((HEAD_CHANNELS, NUM_CLASSES), jnp.float32))
        self.fc_bias = nnx.Param(jnp.zeros((NUM_CLASSES,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Args: x f32[n, h, w, 3] in [0, 255]. Returns: f32[n, 1000] logits."""
        y = self.stem((x - PIXEL_MEAN) / PIXEL_STD)
        for block in self.blocks:
            y = block(y)
        y = jnp.mean(self.head(y), axis=(1, 2))
        return y @ self.fc_kernel[...] + self.fc_bias[...]


def fold_batchnorm(model: EfficientNetLite) -> EfficientNetLite:
    """Fold every BatchNorm into its convolution once, in place, for inference.

    Each conv's kernel becomes ``kernel * scale / sqrt(var + eps)`` and its BN is
    replaced by the offset ``bias - mean * scale / sqrt(var + eps)`` (the same
    float32 products the unfolded layers form on every call), so a forward pass no
    longer rescales 49 kernels. The model computes the same function; its state has
    no BN statistics left.

    Returns:
      ``model``.
    """
    for _, layer in nnx.iter_modules(model):
        if isinstance(layer, (ConvBN, DepthwiseBN)) and layer.bn is not None:
            kernel, offset = folded_kernel(layer)
            layer.kernel[...] = kernel
            layer.offset = nnx.Param(offset)
            layer.bn = None
    return model


def apply_logits(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> jax.Array:
    """Pure forward pass: ``f32[n, res, res, 3]`` pixels in [0, 255] -> ``f32[n, 1000]`` logits."""
    return nnx.merge(graphdef, state)(x)


# ----------------------------------------------------------------------------- weights


def _set(variable: nnx.Variable, value: np.ndarray, key: str) -> None:
    if tuple(variable.shape) != tuple(value.shape):
        raise ValueError(f"weight {key}: expected shape {tuple(variable.shape)}, got {tuple(value.shape)}")
    variable[...] = jnp.asarray(value, jnp.float32)


def _load_bn(bn: BatchNorm, weights: dict[str, np.ndarray], prefix: str) -> None:
    _set(bn.scale, weights[f"{prefix}.weight"], f"{prefix}.weight")
    _set(bn.bias, weights[f"{prefix}.bias"], f"{prefix}.bias")
    _set(bn.mean, weights[f"{prefix}.running_mean"], f"{prefix}.running_mean")
    _set(bn.var, weights[f"{prefix}.running_var"], f"{prefix}.running_var")


def _load_conv(conv: ConvBN, weights: dict[str, np.ndarray], conv_key: str, bn_prefix: str) -> None:
    _set(conv.kernel, weights[conv_key].transpose(2, 3, 1, 0), conv_key)  # OIHW -> HWIO
    _load_bn(conv.bn, weights, bn_prefix)


def load_weights(model: EfficientNetLite, weights: dict[str, np.ndarray]) -> None:
    """Copy a lukemelas-named state_dict (numpy, torch layouts) into ``model`` in place.

    Raises:
      ValueError: a key is missing, left over, or has the wrong shape.
    """
    expected = {"_conv_stem.weight", "_conv_head.weight", "_fc.weight", "_fc.bias"}
    expected |= {f"_bn{i}.{s}" for i in (0, 1) for s in ("weight", "bias", "running_mean", "running_var")}
    for i, block in enumerate(model.blocks):
        convs = ["_depthwise_conv", "_project_conv"] + (["_expand_conv"] if block.expand is not None else [])
        bns = ["_bn1", "_bn2"] + (["_bn0"] if block.expand is not None else [])
        expected |= {f"_blocks.{i}.{c}.weight" for c in convs}
        expected |= {f"_blocks.{i}.{b}.{s}" for b in bns for s in ("weight", "bias", "running_mean", "running_var")}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ValueError(f"weights do not fit the architecture: missing {missing[:4]}, unexpected {extra[:4]}")

    _load_conv(model.stem, weights, "_conv_stem.weight", "_bn0")
    for i, block in enumerate(model.blocks):
        p = f"_blocks.{i}"
        if block.expand is not None:
            _load_conv(block.expand, weights, f"{p}._expand_conv.weight", f"{p}._bn0")
        dw = weights[f"{p}._depthwise_conv.weight"]  # [c, 1, k, k]
        _set(block.depthwise.kernel, dw[:, 0].transpose(1, 2, 0), f"{p}._depthwise_conv.weight")
        _load_bn(block.depthwise.bn, weights, f"{p}._bn1")
        _load_conv(block.project, weights, f"{p}._project_conv.weight", f"{p}._bn2")
    _load_conv(model.head, weights, "_conv_head.weight", "_bn1")
    _set(model.fc_kernel, weights["_fc.weight"].T, "_fc.weight")
    _set(model.fc_bias, weights["_fc.bias"], "_fc.bias")


def build_model(name: str, weights: dict[str, np.ndarray], *, depthwise: str = "shift") -> EfficientNetLite:
    """An :class:`EfficientNetLite` for ``name`` holding ``weights`` (lukemelas naming)."""
    model = EfficientNetLite(resolve_model_name(name), depthwise)
    load_weights(model, weights)
    return model


def resolve_depthwise(depthwise: str = "auto") -> str:
    """The depthwise method to use: ``"auto"`` is ``"native"`` on a single CPU device, else ``"shift"``.

    The native kernel (:mod:`imagenet.depthwise_native`) is a custom call that
    XLA's partitioner cannot split over devices, so with several devices (or a
    GPU/TPU) the shift-and-add formulation runs, which XLA shards and compiles
    everywhere. If the native kernel cannot be built here, ``"auto"`` falls back to
    ``"shift"`` with a one-time warning naming the reason.

    Raises:
      ValueError: an unknown method.
    """
    if depthwise != "auto":
        if depthwise not in DEPTHWISE:
            raise ValueError(f"unknown depthwise method {depthwise!r}; choose one of auto, {', '.join(DEPTHWISE)}")
        return depthwise
    if jax.default_backend() != "cpu" or jax.device_count() != 1:
        return "shift"
    from imagenet import depthwise_native

    reason = depthwise_native.unavailable_reason()
    if reason is not None:
        _warn_native_unavailable(reason)
        return "shift"
    return "native"


@functools.cache
def _warn_native_unavailable(reason: str) -> None:
    import warnings

    warnings.warn(f"native depthwise kernel unavailable ({reason}); using the slower shift-and-add formulation",
                  RuntimeWarning, stacklevel=3)


def load_model(name: str, *, cache_dir: str | os.PathLike | None = None, depthwise: str = "auto") -> Classifier:
    """Load a pretrained EfficientNet-Lite as a pure, jittable classifier.

    Args:
      name: ``efficientnet-lite0|1|2`` or ``lite0|1|2``.
      cache_dir: where the converted .npz is cached (default ``$ROBUSTNESS_CACHE``
        or ``~/.cache/robustness-geometry``); converted from the PyPI package on first use.
      depthwise: ``"auto"`` (see :func:`resolve_depthwise`), ``"native"`` (the C++ kernel
        of :mod:`imagenet.depthwise_native`, single CPU device), ``"shift"``
        (shift-and-add in XLA, any device) or ``"grouped"`` (XLA grouped conv).

    Returns:
      ``Classifier(name, resolution, logits_fn)`` where ``logits_fn`` is
      ``Partial(apply_logits, graphdef, state)`` of the model with its BatchNorms folded
      (:func:`fold_batchnorm`): f32[n, res, res, 3] in [0, 255]
      -> f32[n, 1000] logits.
    """
    from imagenet.convert import cached_weights

    canonical = resolve_model_name(name)
    depthwise = resolve_depthwise(depthwise)
    model = build_model(canonical, cached_weights(canonical, cache_dir=cache_dir), depthwise=depthwise)
    graphdef, state = nnx.split(fold_batchnorm(model))
    return Classifier(canonical, MODELS[canonical], jax.tree_util.Partial(apply_logits, graphdef, state))


# ----------------------------------------------------------------------------- cost


def forward_flops(name: str, batch: int = 1) -> int:
    """FLOPs of one forward pass (2 per multiply-add of every conv and the fc).

    Counted from the layer shapes; BatchNorm (folded), ReLU6, residual adds and
    pooling are left out (under 1% of the total). A forward plus input-gradient
    pass costs about twice this (the backward of each layer w.r.t. its input is a
    layer of the same size; no weight gradients are formed).

    Args:
      name: model name or alias.
      batch: number of images.

    Returns:
      The FLOP count as an int.
    """
    canonical = resolve_model_name(name)
    size = -(-MODELS[canonical] // 2)  # after the stride-2 stem
    macs = size * size * 3 * 3 * 3 * STEM_CHANNELS
    for spec in block_specs(canonical):
        if spec.expanded != spec.in_channels:
            macs += size * size * spec.in_channels * spec.expanded
        size = -(-size // spec.stride)
        macs += size * size * spec.kernel * spec.kernel * spec.expanded
        macs += size * size * spec.expanded * spec.out_channels
    macs += size * size * block_specs(canonical)[-1].out_channels * HEAD_CHANNELS
    macs += HEAD_CHANNELS * NUM_CLASSES
    return 2 * macs * batch
