"""The converted weights into the network: checked copying, and the BatchNorms folded once.

The weights come from :mod:`imagenet.convert` as a lukemelas-named state_dict
(``_conv_stem.weight``, ``_blocks.N._expand_conv.weight``, ...) in torch layouts.
:func:`build_model` copies them into an :class:`~imagenet.network.EfficientNetLite`
with its BatchNorms; :func:`fold_batchnorm` then builds the folded network (a new
module, ``folded=True``) whose kernels carry the BatchNorm scales and whose layers
keep only the BatchNorm offsets, so a forward pass no longer rescales 49 kernels.
"""

from __future__ import annotations

from typing import Iterator

import jax.numpy as jnp
import numpy as np
from flax import nnx

from imagenet.depthwise import Depthwise
from imagenet.network import BatchNorm, ConvBN, DepthwiseBN, EfficientNetLite

BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


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


def expected_keys(model: EfficientNetLite) -> set[str]:
    """The state_dict keys that fit ``model``'s architecture."""
    expected = {"_conv_stem.weight", "_conv_head.weight", "_fc.weight", "_fc.bias"}
    expected |= {f"_bn{i}.{s}" for i in (0, 1) for s in BN_FIELDS}
    for i, block in enumerate(model.blocks):
        convs = ["_depthwise_conv", "_project_conv"] + (["_expand_conv"] if block.expand is not None else [])
        bns = ["_bn1", "_bn2"] + (["_bn0"] if block.expand is not None else [])
        expected |= {f"_blocks.{i}.{c}.weight" for c in convs}
        expected |= {f"_blocks.{i}.{b}.{s}" for b in bns for s in BN_FIELDS}
    return expected


def load_weights(model: EfficientNetLite, weights: dict[str, np.ndarray]) -> None:
    """Copy a lukemelas-named state_dict (numpy, torch layouts) into ``model`` (with BatchNorms) in place.

    Raises:
      ValueError: ``model`` is folded, or a key is missing, left over, or has the wrong shape.
    """
    if model.folded:
        raise ValueError("weights load into a network with its BatchNorms (folded=False); fold it afterwards")
    expected = expected_keys(model)
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


def build_model(name: str, weights: dict[str, np.ndarray], *,
                depthwise: Depthwise | str = Depthwise.SHIFT) -> EfficientNetLite:
    """An :class:`EfficientNetLite` (with BatchNorms) for ``name`` holding ``weights`` (lukemelas naming)."""
    model = EfficientNetLite(name, depthwise)
    load_weights(model, weights)
    return model


def _layers(model: EfficientNetLite) -> Iterator[ConvBN | DepthwiseBN]:
    """Every conv + BatchNorm layer, in a fixed order."""
    yield model.stem
    for block in model.blocks:
        if block.expand is not None:
            yield block.expand
        yield block.depthwise
        yield block.project
    yield model.head


def fold_batchnorm(model: EfficientNetLite) -> EfficientNetLite:
    """The same network with every BatchNorm folded into its convolution, for inference.

    Each conv's kernel becomes ``kernel * scale / sqrt(var + eps)`` and its BN the
    offset ``bias - mean * scale / sqrt(var + eps)`` (the same float32 products the
    unfolded layers form on every call), so a forward pass no longer rescales 49
    kernels. The result computes the same function; its state has no BN statistics.

    Args:
      model: a network with BatchNorms (``folded=False``), left unchanged.

    Returns:
      A new :class:`EfficientNetLite` built with ``folded=True``.

    Raises:
      ValueError: ``model`` is already folded.
    """
    if model.folded:
        raise ValueError("the network's BatchNorms are already folded")
    folded = EfficientNetLite(model.model_name, model.method, folded=True)
    for source, target in zip(_layers(model), _layers(folded), strict=True):
        kernel, offset = source.folded_kernel()
        _set(target.kernel, kernel, "folded kernel")
        _set(target.offset, offset, "folded offset")
    folded.fc_kernel[...] = model.fc_kernel[...]
    folded.fc_bias[...] = model.fc_bias[...]
    return folded
