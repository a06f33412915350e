"""EfficientNet-Lite ports against an independent torch reference of the same weights.

The reference below is written from scratch with plain torch.nn (F.pad for TF
'SAME' padding, BatchNorm2d with eps 1e-3, ReLU6), loaded with strict
``load_state_dict`` from the shipped .pth read with ``weights_only=True``. It
shares no code with imagenet's network: only the published architecture facts.
"""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from torch import nn

from imagenet import convert, depthwise_native, models, network, specs, taps, weights
from imagenet.classes import class_names
from imagenet.depthwise import Depthwise
from imagenet.transform import center_crop_box, preprocess, preprocess_batch

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


def reference_logits(name, x, dtype=torch.float32):
    sd = torch.load(convert.source_path(name), map_location="cpu", weights_only=True)
    net = RefNet(sd, STRIDE2_BLOCKS[name]).to(dtype)
    with torch.no_grad():
        return net(torch.as_tensor(np.asarray(x)).to(dtype)).numpy()


# ----------------------------------------------------------------------------- rounding at the ReLU6 kinks
#
# The port computes in float32, the reference in float64. The network is piecewise linear
# (ReLU6), so its input gradient depends on the forward pass only through the ReLU6 masks
# (0 < pre-activation < 6): where every mask agrees, the two gradients differ by the float32
# rounding of the backward sums alone. A pre-activation within float32 rounding of 0 or 6 may
# land on either side, and one that does changes the gradient by +-u_a J_a (u_a: the gradient
# w.r.t. the activation's output; J_a: the gradient of its pre-activation w.r.t. the input).
# Which ones do depends on the order of the float32 sums: on the CPU (the native kernel is
# compiled with -march=native) and on the depthwise formulation. The helpers below find, from
# the float64 reference, every activation that could (the near-kink set), bound what they can
# do to the gradient, and bound the float32 rounding of the backward pass.
#
# Rounding model. A pre-activation sum_k w_k x_k + offset of n terms rounds each product and
# each partial sum once, by at most u = 2**-24 of its size; in any order (blocked, vectorised,
# with or without fused multiply-adds) a partial sum is at most mag = sum_k |w_k x_k| +
# |offset's terms|, so the local error has a variance of at most (n + 1) (u mag)^2. Folding the
# BatchNorm in float32 (a product, a reciprocal square root of a few ulps, and bias - mean*mult,
# whose rounding scales with its terms, not with the offset) moves each term by at most 4u of
# its size: 16 (u mag)^2 more. Errors in a layer's inputs add their variance through the squared
# weights; a ReLU6 clamped by more than its margin outputs exactly 0 or 6 and passes none. The
# backward pass is the same model on the transposed sums. The model is a standard deviation for
# the worst summation order, not a fit to one machine; as a check of it, on an AMD EPYC the
# largest error of the port's pre-activations at the two photos was 1.1 (native), 1.3 (shift) and
# 1.3 (grouped) of it, the median 0.04.
U32 = 2.0 ** -24
# Margins in standard deviations: P(|e| > 8 sigma) = 1.2e-15 for a Gaussian, so over the 1.2e7
# activations of two 224 x 224 images none outside the near-kink set crosses a kink (union
# bound 1.5e-8), and the backward rounding's l2 norm stays below 8 of its bound.
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


class KinkReference:
    """The float64 input gradient of ``logits[:, label].sum()``, its near-kink activations and rounding bound.

    Attributes:
      grad: f64[n, h, w, 3], torch autograd through the reference's modules.
      layers: {FoldedConv: (mask, near, u_near)} for each ReLU6: its mask (0 < pre < 6), the
        flat indices of its near-kink activations (within SIGMAS sigma of 0 or 6) and the
        gradient w.r.t. their outputs.
      rounding: f64[n], a bound (one sigma) on the l2 norm of the float32 backward pass's rounding.
    """

    def __init__(self, net, x, label):
        self.ops = folded_layers(net)
        x64 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        taken = {}

        def layer(op, v):
            pre = op(v) + op.offset
            post = F.relu6(pre) if op.relu else pre  # F.relu6's gradient is 0 at 0 and 6, as the port's mask
            pre.retain_grad()
            post.retain_grad()
            taken[op] = (v.detach(), pre, post)
            return post

        logits = net._fc(walk(self.ops, (x64.permute(0, 3, 1, 2) - 127.0) / 128.0, layer).mean(dim=(2, 3)))
        with torch.no_grad():  # the walk is the reference network, not a copy of it
            assert torch.allclose(logits, net(x64), rtol=0, atol=1e-9)
        logits[:, label].sum().backward()
        self.grad = x64.grad.numpy()
        with torch.no_grad():
            self.layers = self._near_kinks(taken)
            self.rounding = self._backward_rounding(taken)

    def _near_kinks(self, taken):
        """The forward rounding model, layer by layer (float32 is enough for a standard deviation)."""
        layers = {}

        def layer(op, state):
            _, var = state
            v, pre, post = (t.detach() for t in taken[op])
            mag = op(v.abs().float(), op.kernel.abs()) + op.offset_terms.float()
            var = op(var, op.kernel ** 2) + (op.fan_in + 16) * (U32 * mag) ** 2
            if not op.relu:
                return post, var
            margin = SIGMAS * var.sqrt().double()
            near = (torch.minimum(pre.abs(), (pre - 6).abs()) <= margin).flatten().nonzero()[:, 0]
            layers[op] = ((pre > 0) & (pre < 6), near, taken[op][2].grad.flatten()[near])
            live = (pre > -margin) & (pre < 6 + margin)  # clamped by more: exactly 0 or 6, no error
            return post, torch.where(live, var, torch.zeros_like(var))

        def add(a, b):
            total = a[0] + b[0]
            return total, a[1] + b[1] + (U32 * total.abs().float()) ** 2

        x = next(iter(taken.values()))[0]  # the normalised input
        walk(self.ops, (x, (U32 * x.abs().float()) ** 2), layer, add)
        return layers

    def _backward_rounding(self, taken):
        """The same model on the backward pass, from the logits back to the pixels."""
        head = self.ops[-1]
        g_abs = taken[head][2].grad.abs().float()  # the mean's backward: fc row / 49, rounded once
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
                v, pre, _ = taken[op]
                g_pre = pre.grad.float()
                if op.relu:
                    var = var * ((pre > 0) & (pre < 6))
                g_abs = op.transpose(g_pre.abs(), v.shape, op.kernel.abs().float())
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


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def lite0(weight_cache):
    return models.load_model("lite0", cache_dir=weight_cache)


@pytest.fixture(scope="session")
def photos():
    """Bundled photos preprocessed for lite0: coffee, chelsea (a cat), camera (a tripod)."""
    return preprocess_batch([skimage.data.coffee(), skimage.data.chelsea(), skimage.data.camera()], 224)


forward = jax.jit(lambda logits_fn, x: logits_fn(x))


# ----------------------------------------------------------------------------- tests


def test_resolve_model_name_accepts_aliases_and_lists_valid_names():
    assert specs.resolve_model_name("lite1") == "efficientnet-lite1"
    assert specs.resolve_model_name("EfficientNet-Lite2") == "efficientnet-lite2"
    with pytest.raises(ValueError, match="'lite3'.*efficientnet-lite0.*lite2"):
        specs.resolve_model_name("lite3")


@pytest.mark.parametrize("size,k,stride,pads", [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (112, 5, 2, (1, 2)),
                                                (14, 5, 1, (2, 2)), (7, 3, 1, (1, 1))])
def test_same_pads_put_the_odd_extra_at_the_end(size, k, stride, pads):
    assert taps.same_pads(size, k, stride) == pads


@pytest.mark.parametrize("size,k,stride", [(9, 3, 2), (10, 5, 2), (8, 5, 1)])
def test_depthwise_shift_and_grouped_match_torch(size, k, stride):
    x = jax.random.normal(jax.random.key(0), (2, size, size + 1, 6))
    w = jax.random.normal(jax.random.key(1), (k, k, 6))
    conv = SameConv(6, 6, k, stride=stride, groups=6, bias=False)
    conv.weight.data = torch.as_tensor(np.asarray(w).transpose(2, 0, 1)[:, None].copy())
    with torch.no_grad():
        want = conv(torch.as_tensor(np.array(x)).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    methods = ("shift", "grouped") + (("native",) if depthwise_native.available() else ())
    for method in methods:
        got = np.asarray(Depthwise(method)(x, w, stride))
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=method)
    # the hand-written backwards (shift form, native kernel) against autodiff of XLA's grouped conv
    cotangent = jax.random.normal(jax.random.key(2), want.shape)
    grads = {method: jax.grad(lambda x, w: jnp.sum(Depthwise(method)(x, w, stride) * cotangent),
                              argnums=(0, 1))(x, w) for method in methods}
    for method in set(methods) - {"grouped"}:
        np.testing.assert_allclose(grads[method][0], grads["grouped"][0], atol=1e-5, err_msg=method)
        np.testing.assert_allclose(grads[method][1], grads["grouped"][1], atol=1e-4, err_msg=method)


def test_block_specs_match_the_shipped_weights():
    for name in specs.MODELS:
        blocks = specs.block_specs(name)
        assert len(blocks) == {"efficientnet-lite0": 16}.get(name, 21)
        assert {i for i, s in enumerate(blocks) if s.stride == 2} == STRIDE2_BLOCKS[name]


def test_lite0_matches_independent_torch_reference(lite0, photos):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 255, (3, 224, 224, 3)).astype(np.float32), photos])
    got = np.asarray(forward(lite0.logits_fn, x))
    want32 = reference_logits("efficientnet-lite0", x)
    want64 = reference_logits("efficientnet-lite0", x, torch.float64)
    assert got.shape == (6, 1000) and got.dtype == np.float32
    # logits span about [-5, 12]; measured max differences are ~3e-5 (f32) and ~2e-5 (f64)
    assert np.abs(got - want32).max() < 2e-4
    assert np.abs(got - want64).max() < 2e-4
    np.testing.assert_array_equal(got.argmax(-1), want64.argmax(-1))


def test_symmetric_padding_is_not_the_same_model(lite0, photos):
    """The asymmetric TF padding matters: a symmetric-padding port gives different logits."""
    sd = torch.load(convert.source_path("efficientnet-lite0"), map_location="cpu", weights_only=True)
    net = RefNet(sd, STRIDE2_BLOCKS["efficientnet-lite0"])
    for module in net.modules():  # swap in PyTorch's symmetric padding k // 2
        if isinstance(module, SameConv):
            module.forward = (lambda m: lambda x: nn.Conv2d.forward(m, F.pad(x, [m.kernel_size[0] // 2] * 4)))(module)
    with torch.no_grad():
        symmetric = net(torch.as_tensor(photos)).numpy()
    got = np.asarray(forward(lite0.logits_fn, photos))
    assert np.abs(got - symmetric).max() > 0.5


def test_lite0_classifies_bundled_photos(lite0, photos):
    probs = np.asarray(jax.nn.softmax(forward(lite0.logits_fn, photos)))
    coffee, cat, camera = probs
    assert coffee.argmax() == 967 and coffee[967] > 0.9  # espresso
    assert 281 <= cat.argmax() <= 285  # a domestic cat class
    assert camera.argmax() == 872  # tripod
    assert class_names()[967] == "espresso" and len(class_names()) == 1000


SMOKE = """
import sys, numpy as np, skimage.data
from imagenet import models
from imagenet.transform import preprocess
clf = models.load_model(sys.argv[1], cache_dir=sys.argv[2])
x = preprocess(skimage.data.coffee(), clf.resolution)[None]
np.savez(sys.argv[3], x=x, logits=np.asarray(clf.logits_fn(x)), name=clf.name,
         resolution=clf.resolution)
"""


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_lite1_lite2_smoke(name, weight_cache, tmp_path):
    """Run in a fresh interpreter, as the command line runs them: in the long-lived test
    process, XLA:CPU segfaulted compiling these two (native depthwise custom calls) after
    hundreds of other tests (CI, twice; not reproduced in a fresh process)."""
    import subprocess

    out = tmp_path / "smoke.npz"
    done = subprocess.run([sys.executable, "-c", SMOKE, name, str(weight_cache), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(out) as got:
        x, logits, full = got["x"], got["logits"], str(got["name"])
        assert int(got["resolution"]) == specs.MODELS[full] and logits.shape == (1, 1000)
    assert logits.argmax() == 967
    np.testing.assert_allclose(logits, reference_logits(full, x), atol=2e-4)


def test_new_weights_do_not_recompile(lite0, photos):
    """logits_fn is a pytree: other parameter values reuse the compiled forward pass."""
    original = np.asarray(forward(lite0.logits_fn, photos))
    compiled = forward._cache_size()
    halved = jax.tree.map(lambda a: a * 0.5, lite0.logits_fn)
    out = np.asarray(forward(halved, photos))
    assert forward._cache_size() == compiled
    assert np.abs(out - original).max() > 0.1


@pytest.fixture(scope="module")
def gradient_reference(photos):
    """The float64 reference's input gradient of the espresso logit at coffee and chelsea, and its kinks."""
    sd = torch.load(convert.source_path("efficientnet-lite0"), map_location="cpu", weights_only=True)
    return KinkReference(RefNet(sd, STRIDE2_BLOCKS["efficientnet-lite0"]).double(), photos[:2], 967)


@pytest.mark.parametrize("method", ["native", "shift"])
def test_input_gradient_matches_torch_autograd(method, weight_cache, photos, gradient_reference):
    """The hand-written depthwise backwards, through the whole network, against torch autograd.

    d = got - want is the ReLU6 crossings' sum_a s_a u_a J_a (s_a in {-1, 0, 1}, nonzero only
    on the near-kink set K) plus the float32 backward rounding e, so
    |d|^2 = d . d <= sum_{a in K} |u_a| |J_a . d| + |e| |d| (the allowance and the rounding,
    see KinkReference). The allowance is first order in the crossings (two on one path would add
    their product); the crossings are a handful out of 1.2e7 activations. What it cannot tell from
    a crossing is an error mostly along the near-kink activations' u_a J_a: here about 0.3% of
    |want| along the measured d, and 2% along want itself, so a dropped tap, a wrong offset or
    stride, an unflipped kernel or a gradient scaled by 1.05 fails.
    """
    if method == "native" and not depthwise_native.available():
        pytest.skip(f"native kernel: {depthwise_native.unavailable_reason()}")
    logits_fn = models.load_model("lite0", cache_dir=weight_cache, depthwise=method).logits_fn
    x = photos[:2]
    grad = jax.jit(jax.grad(lambda x: jnp.sum(logits_fn(x)[:, 967])))(jnp.asarray(x))
    want, got = gradient_reference.grad, np.asarray(grad, np.float64)
    assert grad.shape == (2, 224, 224, 3) and np.abs(want).max() > 0
    d = got - want
    allowance, rounding = gradient_reference.kink_allowance(d), gradient_reference.rounding
    for i in range(len(x)):
        norm = np.linalg.norm(d[i])
        report = (f"image {i}: |got - want| = {norm / np.linalg.norm(want[i]):.2e} |want|; crossings can explain "
                  f"{allowance[i] / max(norm, 1e-300) / np.linalg.norm(want[i]):.2e} |want|, rounding "
                  f"{SIGMAS * rounding[i] / np.linalg.norm(want[i]):.2e} |want|")
        assert norm ** 2 <= allowance[i] + SIGMAS * rounding[i] * norm, report


def test_cache_is_npz_and_bad_weights_fail_loudly(lite0, weight_cache):
    files = sorted(p.name for p in weight_cache.iterdir())
    assert "efficientnet-lite0-57934424.npz" in files and not any(f.endswith(".tmp") for f in files)
    converted = convert.cached_weights("efficientnet-lite0", cache_dir=weight_cache)
    broken = dict(converted, **{"_fc.bias": np.zeros(999, np.float32)})
    with pytest.raises(ValueError, match=r"_fc.bias.*\(1000,\).*\(999,\)"):
        weights.build_model("lite0", broken)
    del broken["_fc.bias"]
    with pytest.raises(ValueError, match="missing.*_fc.bias"):
        weights.build_model("lite0", broken)


def test_forward_flops_matches_xla_cost_analysis():
    """The shape count equals XLA's own count of the convolutions and matmuls (lite0, grouped depthwise)."""
    model = network.EfficientNetLite("efficientnet-lite0", Depthwise.GROUPED)
    from flax import nnx

    graphdef, state = nnx.split(model)
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    cost = jax.jit(network.apply_logits).lower(graphdef, state, x).compile().cost_analysis()
    flops = specs.forward_flops("lite0", batch=2)
    assert cost["flops"] == pytest.approx(flops, rel=0.02)  # XLA adds the elementwise ops (+1%)


def test_folding_builds_a_new_network_of_fixed_structure(weight_cache):
    """fold_batchnorm leaves its input alone and returns a network built folded: no BN statistics, same logits."""
    from flax import nnx

    converted = convert.cached_weights("efficientnet-lite0", cache_dir=weight_cache)
    model = weights.build_model("lite0", converted)
    before = jax.tree.map(np.asarray, nnx.state(model))
    folded = weights.fold_batchnorm(model)
    assert folded is not model and folded.folded and not model.folded
    assert jax.tree.all(jax.tree.map(np.array_equal, nnx.state(model), before))
    assert not nnx.state(folded, nnx.BatchStat) and nnx.state(model, nnx.BatchStat)
    assert nnx.graphdef(folded) == nnx.graphdef(network.EfficientNetLite("lite0", folded=True))
    x = jnp.asarray(preprocess(skimage.data.coffee(), 224))[None]
    forward_of = jax.jit(network.apply_logits)
    np.testing.assert_allclose(forward_of(*nnx.split(folded), x), forward_of(*nnx.split(model), x), atol=1e-4)
    with pytest.raises(ValueError, match="already folded"):
        weights.fold_batchnorm(folded)
    with pytest.raises(ValueError, match="folded=False"):
        weights.load_weights(folded, converted)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_keep_freed_memory_is_accepted_by_glibc():
    from imagenet import keep_freed_memory

    assert keep_freed_memory() is True


def test_preprocess_crop_and_channels():
    assert center_crop_box(400, 600, 224) == (25, 125, 350)
    gray = skimage.data.camera()  # 512 x 512 uint8
    rgb = preprocess(gray, 224)
    assert rgb.shape == (224, 224, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    coffee = skimage.data.coffee()
    rgba = np.concatenate([coffee, np.zeros_like(coffee[..., :1])], axis=-1)
    np.testing.assert_array_equal(preprocess(rgba, 240), preprocess(coffee.astype(np.float32), 240))
    out = preprocess(coffee, 260)
    assert out.shape == (260, 260, 3) and out.min() >= 0 and out.max() <= 255
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((4, 4, 2)), 224)
