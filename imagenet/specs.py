"""EfficientNet-Lite0/1/2 as numbers: names, resolutions, the MBConv blocks, FLOP counts.

The architecture is the TF EfficientNet-Lite (no squeeze-excite, ReLU6, fixed
32-channel stem and 1280-channel head): EfficientNet-B0's seven stages scaled in
width and depth, the first and last stage's depth left unscaled. Nothing here
touches JAX; :mod:`imagenet.network` builds the modules from these specs.

Example:
    >>> resolve_model_name("lite1"), MODELS["efficientnet-lite1"]
    ('efficientnet-lite1', 240)
    >>> len(block_specs("lite0")), block_specs("lite0")[1]
    (16, BlockSpec(in_channels=16, expanded=96, out_channels=24, kernel=3, stride=2))
"""

from __future__ import annotations

import math
from typing import NamedTuple

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
