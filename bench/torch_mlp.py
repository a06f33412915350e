"""The plane MLP's weights in an equivalent torch module, for the peer libraries.

The peers (ART, torchattacks) attack torch modules; to compare figures on the same
work, they attack an ``nn.Sequential`` of ``nn.Linear`` + activation holding exactly
the Flax model's weights (kernels transposed: Flax stores ``[in, out]``, torch
``[out, in]``).

torchattacks clamps its adversarial inputs to ``[0, 1]``. :func:`unit_box_model`
therefore prepends a fixed affine map from ``[0, 1]^2`` onto a square much larger than
the plane, so that the clamp never binds on the benchmark's radii; distances scale by
``UNIT_SCALE`` (an eps of the plane is ``eps / UNIT_SCALE`` in the unit box).

Example:
    >>> import jax
    >>> from toymodels import TrainConfig, get_task, train
    >>> trained = train(get_task("margins"), TrainConfig(steps=10))
    >>> to_torch(trained.logits_fn)[0]
    Linear(in_features=2, out_features=64, bias=True)
"""

from __future__ import annotations

import numpy as np
import torch
from flax import nnx
from torch import nn

from toymodels import MLP

TORCH_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                     # jax.nn.gelu is the tanh approximation by default
                     "gelu": lambda: nn.GELU(approximate="tanh")}

# The unit box [0, 1]^2 maps onto [-UNIT_SCALE/2, UNIT_SCALE/2]^2 (the plane is [-1, 1]^2).
UNIT_SCALE = 4.0


def flax_mlp(logits_fn) -> MLP:
    """The :class:`toymodels.mlp.MLP` behind a plane classifier ``Partial(apply_state, g, s)``."""
    graphdef, state = logits_fn.args[:2]
    model = nnx.merge(graphdef, state)
    if not isinstance(model, MLP):
        raise ValueError(f"expected a toymodels MLP classifier, got {type(model).__name__}")
    return model


def to_torch(logits_fn) -> nn.Sequential:
    """Copies a plane MLP into ``nn.Sequential(Linear, act, ..., Linear)`` (eval mode, f32).

    Args:
      logits_fn: a classifier from :func:`toymodels.train` or :func:`toymodels.modelfile.load_model`.

    Returns:
      A torch module mapping ``f32[n, 2]`` to the same ``f32[n, classes]`` logits.
    """
    model = flax_mlp(logits_fn)
    layers: list[nn.Module] = []
    for layer in list(model.hidden) + [model.out]:
        kernel = np.asarray(layer.kernel[...], np.float32)           # [in, out]
        linear = nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(np.array(layer.bias[...], np.float32)))
        layers += [linear, TORCH_ACTIVATIONS[model.activation]()]
    return nn.Sequential(*layers[:-1]).eval()


class _FromUnitBox(nn.Module):
    """``z in [0, 1]^2 -> UNIT_SCALE * (z - 1/2)``, the plane coordinates."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return UNIT_SCALE * (z - 0.5)


def unit_box_model(net: nn.Module) -> nn.Sequential:
    """``net`` composed with the unit-box map (for libraries that clamp to ``[0, 1]``).

    The module takes ``f32[n, ...]`` with two values per row (e.g. ``[n, 1, 1, 2]``, the
    image layout torchattacks' l2 attack assumes), flattens each row, maps it to the plane.
    """
    return nn.Sequential(nn.Flatten(), _FromUnitBox(), net).eval()


def to_unit_box(x: np.ndarray) -> np.ndarray:
    """Plane points to unit-box coordinates (the inverse of the map in :func:`unit_box_model`)."""
    return np.asarray(x, np.float32) / UNIT_SCALE + 0.5


def from_unit_box(z: np.ndarray) -> np.ndarray:
    """Unit-box coordinates back to the plane."""
    return UNIT_SCALE * (np.asarray(z, np.float32) - 0.5)
