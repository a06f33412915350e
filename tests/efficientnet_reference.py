"""An independent torch reference of EfficientNet-Lite, and a model of the port's float32 rounding.

The reference is written from scratch with plain torch.nn (F.pad for TF 'SAME' padding,
BatchNorm2d with eps 1e-3, ReLU6), loaded with strict ``load_state_dict`` from the shipped
.pth read with ``weights_only=True``. It shares no code with imagenet's network: only the
published architecture facts.

The rounding model (``rounded_logits``, ``KinkReference``) gives the tolerances of the
tests that compare the float32 port with it: each is derived below, none measured.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imagenet import convert

# First block of each stride-2 stage (stages of 1,2,2,3,3,4,1 blocks for lite0; 1,3,3,4,4,5,1 for lite1/2).
STRIDE2_BLOCKS = {"efficientnet-lite0": {1, 3, 5, 11}, "efficientnet-lite1": {1, 4, 7, 15},
                  "efficientnet-lite2": {1, 4, 7, 15}}


# ----------------------------------------------------------------------------- reference


class SameConv(nn.Conv2d):
    """Conv2d with TF 'SAME' padding done by F.pad (extra row/column at the bottom/right)."""

    def pad(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.pad(x, (left, right, top, bottom))

    def forward(self, x):
        return super().forward(self.pad(x))


def bn(channels):
    return nn.BatchNorm2d(channels, eps=1e-3)


class RefBlock(nn.Module):
    def __init__(self, cin, cexp, cout, k, stride):
        super().__init__()
        self.has_expand = cexp != cin
        if self.has_expand:
            self._expand_conv = SameConv(cin, cexp, 1, bias=False)
            self._bn0 = bn(cexp)
        self._depthwise_conv = SameConv(cexp, cexp, k, stride=stride, groups=cexp, bias=False)
        self._bn1 = bn(cexp)
        self._project_conv = SameConv(cexp, cout, 1, bias=False)
        self._bn2 = bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class RefNet(nn.Module):
    """EfficientNet-Lite built from the state_dict's shapes; takes NHWC pixels in [0, 255]."""

    def __init__(self, sd, stride2):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = bn(32)
        blocks, i = [], 0
        while f"_blocks.{i}._depthwise_conv.weight" in sd:
            dw = sd[f"_blocks.{i}._depthwise_conv.weight"]
            cout, cexp = sd[f"_blocks.{i}._project_conv.weight"].shape[:2]
            cin = sd[f"_blocks.{i}._expand_conv.weight"].shape[1] if f"_blocks.{i}._expand_conv.weight" in sd else cexp
            blocks.append(RefBlock(cin, cexp, cout, dw.shape[-1], 2 if i in stride2 else 1))
            i += 1
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(sd["_conv_head.weight"].shape[1], 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self._fc = nn.Linear(1280, 1000)
        self.load_state_dict(sd, strict=True)
        self.eval()

    def forward(self, x_nhwc):
        x = (x_nhwc.permute(0, 3, 1, 2) - 127.0) / 128.0
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def reference_net(name, dtype=torch.float32):
    sd = torch.load(convert.source_path(name), map_location="cpu", weights_only=True)
    return RefNet(sd, STRIDE2_BLOCKS[name]).to(dtype)


def reference_logits(name, x, dtype=torch.float32):
    with torch.no_grad():
        return reference_net(name, dtype)(torch.as_tensor(np.asarray(x)).to(dtype)).numpy()


# ----------------------------------------------------------------------------- float32 rounding
#
# Rounding model. A pre-activation sum_k w_k x_k + offset of n terms rounds each product and
# each partial sum once, by at most u = 2**-24 of its size; in any order (blocked, vectorised,
# with or without fused multiply-adds) a partial sum is at most mag = sum_k |w_k x_k| +
# |offset's terms|, so the local error has a variance of at most (n + 1) (u mag)^2. Folding the
# BatchNorm in float32 (a product, a reciprocal square root of a few ulps, and bias - mean*mult,
# whose rounding scales with its terms, not with the offset) moves each term by at most 4u of
# its size: 16 (u mag)^2 more (the reference's unfolded BatchNorm in float32 rounds as often,
# each time by at most u mag). Errors in a layer's inputs add their variance through the
# squared weights; a ReLU6 clamped by more than its margin outputs exactly 0 or 6 and passes
# none. The backward pass is the same model on the transposed sums. The model is a standard
# deviation for the worst summation order, not a fit to one machine; as a check of it, on an
# AMD EPYC the largest error of lite0's pre-activations at coffee and chelsea was 1.1 (native
# depthwise), 1.3 (shift) and 1.3 (grouped) of it, the median 0.04.
U32 = 2.0 ** -24
# Margins in standard deviations: P(|e| > 8 sigma) = 1.2e-15 for a Gaussian, so over the 1.2e7
# activations of two 224 x 224 images none outside a margin of 8 sigma crosses a kink (union
# bound 1.5e-8), and no logit and no l2 norm of a rounding error goes past 8 of its sigma.
SIGMAS = 8.0


class FoldedConv:
    """A conv and its BatchNorm of the reference as ``pre = conv(x, kernel) + offset``, the form the port computes."""

    def __init__(self, conv, bn, relu):
        mult = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        self.conv, self.relu = conv, relu
        self.kernel = conv.weight.detach() * mult[:, None, None, None]
        self.offset = (bn.bias.detach() - bn.running_mean * mult)[None, :, None, None]
        self.offset_terms = (bn.bias.detach().abs() + (bn.running_mean * mult).abs())[None, :, None, None]
        k = self.kernel.shape[-1]
        self.fan_in = self.kernel[0].numel() + 1  # terms of one pre-activation, the offset included
        self.fan_out = self.kernel.shape[0] // conv.groups * k * k  # terms of one input's gradient, at most

    def __call__(self, x, kernel=None):
        """The convolution alone (stride, groups, 'SAME' padding) with ``kernel`` (default: the folded one)."""
        kernel = self.kernel if kernel is None else kernel
        return F.conv2d(self.conv.pad(x), kernel.to(x.dtype), stride=self.conv.stride, groups=self.conv.groups)

    def transpose(self, g, x_shape, kernel):
        """The gradient of ``sum(g * conv(x, kernel))`` w.r.t. ``x`` (the conv is linear in x)."""
        with torch.enable_grad():
            x = torch.zeros(x_shape, dtype=g.dtype, requires_grad=True)
            return torch.autograd.grad(self(x, kernel), x, g)[0]


def folded_layers(net):
    """The reference's convolutions in order, as FoldedConv, with "save" and "add" around each skip."""
    ops = [FoldedConv(net._conv_stem, net._bn0, True)]
    for block in net._blocks:
        ops += ["save"] if block.skip else []
        if block.has_expand:
            ops.append(FoldedConv(block._expand_conv, block._bn0, True))
        ops += [FoldedConv(block._depthwise_conv, block._bn1, True), FoldedConv(block._project_conv, block._bn2, False)]
        ops += ["add"] if block.skip else []
    return ops + [FoldedConv(net._conv_head, net._bn1, True)]


def walk(ops, x, layer, add=lambda a, b: a + b):
    """Runs ``x`` through ``ops``: ``layer(op, x)`` is each layer, ``add`` joins a skip."""
    saved = []
    for op in ops:
        if op == "save":
            saved.append(x)
        elif op == "add":
            x = add(x, saved.pop())
        else:
            x = layer(op, x)
    return x


def rounded_logits(net, x_nhwc, seen=None, ops=None):
    """The reference's logits (its dtype, autograd as the input asks) and one sigma of the port's float32 error in each.

    The rounding model (above) runs alongside the forward pass in float32, which is
    plenty for a standard deviation. ``seen(op, x, pre, post, sigma)`` is called for
    every layer: its input, pre-activation and output, and the sigma of the pre-activation.

    Returns: (logits [n, classes], sigma f64 [n, classes]).
    """
    ops = folded_layers(net) if ops is None else ops

    def layer(op, state):
        v, var = state
        pre = op(v) + op.offset
        post = F.relu6(pre) if op.relu else pre  # F.relu6's gradient is 0 at 0 and 6, as the port's mask
        with torch.no_grad():
            mag = op(v.detach().abs().float(), op.kernel.abs()) + op.offset_terms.float()
            var = op(var, op.kernel ** 2) + (op.fan_in + 16) * (U32 * mag) ** 2
            sigma = var.sqrt()
            if op.relu:  # clamped by more than the margin: exactly 0 or 6, no error passed on
                margin = SIGMAS * sigma.to(pre.dtype)
                var = torch.where((pre > -margin) & (pre < 6 + margin), var, torch.zeros_like(var))
        if seen is not None:
            seen(op, v, pre, post, sigma)
        return post, var

    def add(a, b):
        total = a[0] + b[0]
        return total, a[1] + b[1] + (U32 * total.detach().abs().float()) ** 2

    x = (x_nhwc.permute(0, 3, 1, 2) - 127.0) / 128.0
    features, var = walk(ops, (x, (U32 * x.detach().abs().float()) ** 2), layer, add)
    pooled = features.mean(dim=(2, 3))
    logits = net._fc(pooled)
    with torch.no_grad():
        positions = features.shape[2] * features.shape[3]  # the mean: a sum of that many terms and a division
        var = var.sum(dim=(2, 3)) / positions ** 2 + (positions + 1) * (U32 * pooled.abs().float()) ** 2
        weight, bias = net._fc.weight.detach().float(), net._fc.bias.detach().float()
        mag = pooled.abs().float() @ weight.abs().T + bias.abs()
        var = var @ (weight ** 2).T + (weight.shape[1] + 1) * (U32 * mag) ** 2
    return logits, var.sqrt().double()


# ----------------------------------------------------------------------------- the ReLU6 kinks
#
# The network is piecewise linear (ReLU6), so its input gradient depends on the forward pass
# only through the ReLU6 masks (0 < pre-activation < 6): where every mask agrees, a float32
# gradient differs from the float64 one by the rounding of the backward sums alone. A
# pre-activation within rounding of 0 or 6 may land on either side, and one that does changes
# the gradient by +-u_a J_a (u_a: the gradient w.r.t. the activation's output; J_a: the
# gradient of its pre-activation w.r.t. the input). Which ones do depends on the order of the
# float32 sums: on the CPU (the native kernel is compiled with -march=native) and on the
# depthwise formulation. KinkReference finds, from the float64 reference, every activation
# that could (within SIGMAS sigma of a kink) and bounds what they can do.


class KinkReference:
    """The float64 input gradient of ``logits[:, label].sum()``, its near-kink activations and rounding bound.

    Attributes:
      grad: f64[n, h, w, 3], torch autograd through the reference's modules.
      layers: {FoldedConv: (mask, near, u_near)} for each ReLU6: its mask (0 < pre < 6), the
        flat indices of its near-kink activations (within SIGMAS sigma of 0 or 6) and the
        gradient w.r.t. their outputs.
      rounding: f64[n], one sigma of the l2 norm of the float32 backward pass's rounding.
    """

    def __init__(self, net, x, label):
        self.ops = folded_layers(net)
        x64 = torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True)
        taken = {}

        def seen(op, v, pre, post, sigma):
            pre.retain_grad()
            post.retain_grad()
            taken[op] = (v.detach(), pre, post, sigma)

        logits, _ = rounded_logits(net, x64, seen, self.ops)
        with torch.no_grad():  # the walk is the reference network, not a copy of it
            assert torch.allclose(logits, net(x64), rtol=0, atol=1e-9)
        logits[:, label].sum().backward()
        self.grad = x64.grad.numpy()
        self.layers = {}
        with torch.no_grad():
            for op, (_, pre, post, sigma) in taken.items():
                if op.relu:
                    pre = pre.detach()
                    margin = SIGMAS * sigma.double()
                    near = (torch.minimum(pre.abs(), (pre - 6).abs()) <= margin).flatten().nonzero()[:, 0]
                    self.layers[op] = ((pre > 0) & (pre < 6), near, post.grad.flatten()[near])
            self.rounding = self._backward_rounding(taken)

    def _backward_rounding(self, taken):
        """The rounding model on the backward pass, from the logits back to the pixels."""
        g_abs = taken[self.ops[-1]][2].grad.abs().float()  # the mean's backward: fc row / positions, rounded once
        var = (U32 * g_abs) ** 2
        skips = []
        for op in reversed(self.ops):
            if op == "add":  # the block output's gradient goes both into the block and along the skip
                skips.append((var, g_abs))
            elif op == "save":
                skip_var, skip_abs = skips.pop()
                var = var + skip_var + (U32 * (g_abs + skip_abs)) ** 2
                g_abs = g_abs + skip_abs
            else:
                v, pre, _, _ = taken[op]
                if op.relu:
                    var = var * ((pre > 0) & (pre < 6))
                g_abs = op.transpose(pre.grad.abs().float(), v.shape, op.kernel.abs().float())
                var = op.transpose(var, v.shape, op.kernel.float() ** 2) + (op.fan_out + 16) * (U32 * g_abs) ** 2
        # the pixels' gradient is the normalised input's divided by 128: exact
        return (var.double().sum(dim=(1, 2, 3)) / 128.0 ** 2).sqrt().numpy()

    def kink_allowance(self, d):
        """Per image, sum over near-kink activations a of |u_a| |J_a . d|: the most of ``d . d`` crossings can explain.

        ``J_a . d`` for every activation at once is one forward-mode (Jacobian-vector)
        product in direction ``d``, through the float64 reference's masks; float32 is
        plenty for an allowance.
        """
        n = len(d)
        total = np.zeros(n)

        def layer(op, t):
            t = op(t)
            if op.relu:
                mask, near, u_near = self.layers[op]
                contributions = (u_near.abs() * t.flatten()[near].abs().double()).numpy()
                np.add.at(total, near.numpy() // (t.numel() // n), contributions)
                t = t * mask
            return t

        with torch.no_grad():
            walk(self.ops, torch.as_tensor(d, dtype=torch.float32).permute(0, 3, 1, 2) / 128.0, layer)
        return total


# ----------------------------------------------------------------------------- one depthwise convolution


def gamma(n):
    """Higham's gamma_n = n u / (1 - n u).

    A sum of n products rounded in float32 in any order (blocked, vectorised, pairwise, with or
    without fused multiply-adds) is within gamma_n times the sum of the products' magnitudes
    of the exact sum: two float32 computations of it are within twice that of each other.
    """
    return n * U32 / (1 - n * U32)


def depthwise_float64(x, kernel, stride, g):
    """A depthwise 'SAME' convolution of ``x`` and its pullback of ``g``, in float64.

    Args: x [n, h, w, c], kernel [k, k, c], g [n, ceil(h/stride), ceil(w/stride), c].
    Returns: (output, input gradient, kernel gradient), f64 arrays shaped as g, x and kernel.
    """
    k, c = kernel.shape[0], kernel.shape[-1]
    conv = SameConv(c, c, k, stride=stride, groups=c, bias=False).double()
    conv.weight.data = torch.tensor(np.asarray(kernel, np.float64)).permute(2, 0, 1)[:, None].contiguous()
    xt = torch.tensor(np.asarray(x, np.float64)).permute(0, 3, 1, 2).requires_grad_()
    y = conv(xt)
    dx, dk = torch.autograd.grad(y, (xt, conv.weight), torch.tensor(np.asarray(g, np.float64)).permute(0, 3, 1, 2))
    return (y.detach().permute(0, 2, 3, 1).numpy(), dx.permute(0, 2, 3, 1).numpy(),
            dk[:, 0].permute(1, 2, 0).numpy())


def depthwise_magnitudes(x, kernel, g, stride):
    """The sums of the magnitudes of the terms of a depthwise conv's output, input gradient and kernel gradient.

    They are the same computations on ``|x|``, ``|kernel|`` and ``|g|`` (every term nonnegative).
    """
    return depthwise_float64(np.abs(np.asarray(x)), np.abs(np.asarray(kernel)), stride, np.abs(np.asarray(g)))
