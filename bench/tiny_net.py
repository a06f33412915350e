"""A tiny real Flax classifier, so the GPU check (:mod:`bench.gpu`) runs on a CPU in seconds.

Built the way ``imagenet.load_model`` builds EfficientNet-Lite: an NNX model (two
stride-2 3x3 convs, global pooling, a linear head) split once and applied as a
``jax.tree_util.Partial`` of a module-level function, pixels in [0, 255]. The test
suite's ``tests/imagenet_tiny.py`` uses this net too (with NNX-initialised weights).

Example:
    >>> c = tiny_classifier()
    >>> c.name, c.resolution, tiny_forward_flops(2)
    ('tiny', 32, 516736)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.tree_util import Partial

RESOLUTION = 32
CLASSES = 10
WIDTHS = (8, 16)  # the two convs' output channels


class TinyNet(nnx.Module):
    """Two stride-2 3x3 convs with ReLU, global mean pooling, a linear head."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, WIDTHS[0], (3, 3), strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(WIDTHS[0], WIDTHS[1], (3, 3), strides=2, rngs=rngs)
        self.head = nnx.Linear(WIDTHS[1], CLASSES, rngs=rngs)

    def __call__(self, x):
        x = (x - 127.0) / 128.0  # Python floats: the input's dtype is kept (bfloat16 stays bfloat16)
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        return self.head(jnp.mean(x, axis=(1, 2)))


def apply_tiny(graphdef, state, x):
    """Pure forward pass: ``[n, 32, 32, 3]`` pixels in [0, 255] -> ``[n, 10]`` logits."""
    return nnx.merge(graphdef, state)(x)


class TinyClassifier(NamedTuple):
    """The fields of ``imagenet.Classifier``: ``name``, ``resolution``, ``logits_fn``."""

    name: str
    resolution: int
    logits_fn: Callable


def tiny_classifier(seed: int = 0) -> TinyClassifier:
    """The tiny net with random weights of ``seed``, as a classifier for ``imagenet.run_universal``.

    The weights are drawn with numpy into the net's abstract shapes (LeCun-normal kernels,
    zero biases): NNX's own initialisers compile a few dozen small XLA programs, half a
    minute on a busy 2-core machine.

    Args:
      seed: the weights' seed.

    Returns:
      ``TinyClassifier("tiny", 32, Partial(apply_tiny, graphdef, state))``.
    """
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: TinyNet(nnx.Rngs(seed))))
    rng = np.random.default_rng(seed)

    def draw(leaf):
        if len(leaf.shape) < 2:
            return jnp.zeros(leaf.shape, leaf.dtype)
        fan_in = int(np.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(0.0, fan_in ** -0.5, leaf.shape), leaf.dtype)

    state = jax.tree.map(draw, abstract)
    return TinyClassifier("tiny", RESOLUTION, Partial(apply_tiny, graphdef, state))


def tiny_forward_flops(batch: int = 1) -> int:
    """FLOPs of the tiny net's forward pass, counted as ``imagenet.forward_flops`` counts
    (2 per multiply-add of each conv and the head; biases, ReLUs and pooling left out).

    Args:
      batch: number of images.

    Returns:
      The FLOP count as an int.
    """
    size, channels, macs = RESOLUTION, 3, 0
    for width in WIDTHS:
        size = -(-size // 2)  # stride 2, 'SAME' padding
        macs += size * size * 3 * 3 * channels * width
        channels = width
    macs += channels * CLASSES
    return 2 * macs * batch
