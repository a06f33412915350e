"""EfficientNet-Lite ports against an independent torch reference of the same weights.

The reference (tests/efficientnet_reference.py) is written from scratch with plain torch.nn
and shares no code with imagenet's network; the tolerances come from its model of the
port's float32 rounding.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from torch import nn

from efficientnet_reference import (SIGMAS, STRIDE2_BLOCKS, KinkReference, SameConv, depthwise_magnitudes, gamma,
                                   reference_logits, reference_net, rounded_logits)
from imagenet import convert, depthwise_native, models, network, specs, taps, weights
from imagenet.classes import class_names
from imagenet.depthwise import Depthwise
from imagenet.transform import center_crop_box, preprocess, preprocess_batch

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
    cotangent = jax.random.normal(jax.random.key(2), want.shape)
    # Two float32 computations of one sum differ by at most 2 gamma_n times its terms' magnitudes
    # (efficientnet_reference.gamma): an output and an input's gradient sum at most k*k products,
    # a kernel entry's gradient one per output position.
    mag_y, mag_dx, mag_dk = depthwise_magnitudes(x, w, cotangent, stride)
    bounds = 2 * gamma(k * k) * mag_y, 2 * gamma(k * k) * mag_dx, 2 * gamma(cotangent[..., 0].size) * mag_dk
    methods = ("shift", "grouped") + (("native",) if depthwise_native.available() else ())
    for method in methods:
        got = np.asarray(Depthwise(method)(x, w, stride))
        assert (np.abs(got - want) <= bounds[0]).all(), method
    # the hand-written backwards (shift form, native kernel) against autodiff of XLA's grouped conv
    grads = {method: jax.grad(lambda x, w: jnp.sum(Depthwise(method)(x, w, stride) * cotangent),
                              argnums=(0, 1))(x, w) for method in methods}
    for method in set(methods) - {"grouped"}:
        for name, got, want, bound in zip(("x", "kernel"), grads[method], grads["grouped"], bounds[1:]):
            assert (np.abs(np.asarray(got) - np.asarray(want)) <= bound).all(), (method, name)


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
    with torch.no_grad():
        want64, sigma = rounded_logits(reference_net("efficientnet-lite0", torch.float64), torch.as_tensor(x).double())
    want64, bound = want64.numpy(), SIGMAS * sigma.numpy()  # 1.6e-4 to 3.7e-4 on logits spanning [-5, 12]
    assert got.shape == (6, 1000) and got.dtype == np.float32
    # each float32 forward pass, the port's and the reference's, is within its bound of the exact logits
    np.testing.assert_array_less(np.abs(got - want64), bound)
    np.testing.assert_array_less(np.abs(got - want32), 2 * bound)
    # the top class is decided where it leads every other by more than both their bounds: on every image here
    rows = np.arange(len(x))
    top = want64.argmax(-1)
    lead = want64[rows, top, None] - want64 - bound[rows, top, None] - bound
    lead[rows, top] = np.inf
    assert (lead > 0).all()
    np.testing.assert_array_equal(got.argmax(-1), top)


def test_symmetric_padding_is_not_the_same_model(lite0, photos):
    """The asymmetric TF padding matters: a symmetric-padding port gives different logits."""
    net = reference_net("efficientnet-lite0")
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


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_lite1_lite2_smoke(name, weight_cache):
    """In the test process. (They once ran in a fresh interpreter: XLA:CPU segfaulted
    compiling them late in long CI runs. The cause was the process's count of memory
    mappings reaching the kernel's limit, which tests/conftest.py now bounds for every
    test file; see store.release_compiled_programs.)"""
    clf = models.load_model(name, cache_dir=weight_cache)
    x = preprocess(skimage.data.coffee(), clf.resolution)[None]
    logits = np.asarray(clf.logits_fn(x))
    assert clf.resolution == specs.MODELS[clf.name] and logits.shape == (1, 1000)
    assert logits.argmax() == 967
    with torch.no_grad():  # the port's float32 logits are within their bound of the exact ones
        want, sigma = rounded_logits(reference_net(clf.name, torch.float64), torch.as_tensor(x).double())
    np.testing.assert_array_less(np.abs(logits - want.numpy()), SIGMAS * sigma.numpy())


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
    return KinkReference(reference_net("efficientnet-lite0", torch.float64), photos[:2], 967)


@pytest.mark.parametrize("method", ["native", "shift"])
def test_input_gradient_matches_torch_autograd(method, weight_cache, photos, gradient_reference):
    """The hand-written depthwise backwards, through the whole network, against torch autograd.

    d = got - want is the ReLU6 crossings' sum_a s_a u_a J_a (s_a in {-1, 0, 1}, nonzero only
    on the near-kink set K) plus the float32 backward rounding e, so
    |d|^2 = d . d <= sum_{a in K} |u_a| |J_a . d| + |e| |d| (the allowance and the rounding,
    see KinkReference). The allowance is first order in the crossings (two on one path would add
    their product): about 1e3 of the 1.2e7 activations are near a kink, and few of those cross.
    What it cannot tell from a crossing is an error mostly along the near-kink activations'
    u_a J_a: here 0.3% to 0.9% of |want| along the measured d, and 2% along want itself, so a
    dropped tap, a wrong offset or stride, an unflipped kernel or a gradient scaled by 1.05 fails.
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
