"""The Flax NNX multilayer perceptron that classifies points of the plane.

Example:
    >>> from flax import nnx
    >>> import jax.numpy as jnp
    >>> model = create_model(num_classes=2, width=16, depth=2, activation="relu",
    ...                      rngs=nnx.Rngs(0))
    >>> model(jnp.zeros((5, 2))).shape
    (5, 2)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
}


class MLP(nnx.Module):
    """``depth`` hidden layers of ``width`` units, then a linear read-out.

    Maps ``f32[n, in_features]`` to logits ``f32[n, num_classes]``.
    """

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int,
                 activation: str, *, rngs: nnx.Rngs):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of "
                             f"{', '.join(ACTIVATIONS)}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be at least 1, got {width} and {depth}")
        sizes = [in_features] + [width] * depth
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = nnx.Linear(width, num_classes, rngs=rngs)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            x = act(layer(x))
        return self.out(x)


def create_model(*, num_classes: int, width: int, depth: int, activation: str,
                 rngs: nnx.Rngs, in_features: int = 2) -> MLP:
    """Builds an :class:`MLP` for points of the plane (``in_features=2``)."""
    return MLP(in_features, num_classes, width, depth, activation, rngs=rngs)


def apply_state(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> jax.Array:
    """Pure forward pass of a split model: ``f32[n, 2] -> f32[n, classes]``."""
    return nnx.merge(graphdef, state)(x)


def logits_fn_of(model: MLP) -> jax.tree_util.Partial:
    """Splits ``model`` once into a pytree classifier ``logits_fn(x) -> logits``.

    The result can be passed into jitted functions as an ordinary argument: its
    parameters are leaves, so a new model of the same architecture does not recompile.
    """
    graphdef, state = nnx.split(model)
    return jax.tree_util.Partial(apply_state, graphdef, state)
