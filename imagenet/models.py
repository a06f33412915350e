"""Pretrained EfficientNet-Lite0/1/2 as pure, jittable classifiers: :func:`load_model`.

The hot path is a pure function of the model state: :func:`load_model` builds the
network (:mod:`imagenet.network`), loads the converted weights and folds the
BatchNorms (:mod:`imagenet.weights`), calls ``nnx.split`` once and returns
``jax.tree_util.Partial(apply_logits, graphdef, state)``. The graphdef is a leafless
pytree, so swapping in other weights of the same architecture does not recompile,
and the state is replicated when the batch axis is sharded.

The depthwise convolutions run as a native XLA:CPU kernel on a single CPU device
(:mod:`imagenet.depthwise_native`, which also fuses the surrounding BatchNorm
offsets and ReLU6s) and as a shift-and-add in XLA elsewhere; see
:func:`imagenet.depthwise.resolve_depthwise`.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import jax
from flax import nnx

from imagenet.convert import cached_weights
from imagenet.depthwise import Depthwise, resolve_depthwise
from imagenet.network import apply_logits
from imagenet.specs import MODELS, resolve_model_name
from imagenet.weights import build_model, fold_batchnorm


class Classifier(NamedTuple):
    """A loaded model: ``logits_fn(x f32[n, res, res, 3] in [0, 255]) -> f32[n, 1000]``."""

    name: str
    resolution: int
    logits_fn: Callable[[jax.Array], jax.Array]


def load_model(name: str, *, cache_dir: str | os.PathLike | None = None,
               depthwise: str | Depthwise = "auto") -> Classifier:
    """Load a pretrained EfficientNet-Lite as a pure, jittable classifier.

    Args:
      name: ``efficientnet-lite0|1|2`` or ``lite0|1|2``.
      cache_dir: where the converted .npz is cached (default ``store.cache_root()``:
        ``$ROBUSTNESS_CACHE`` or ``~/.cache/robustness-geometry``); converted from the
        PyPI package on first use.
      depthwise: ``"auto"`` (see :func:`~imagenet.depthwise.resolve_depthwise`),
        ``"native"`` (the C++ kernel of :mod:`imagenet.depthwise_native`, single CPU
        device), ``"shift"`` (shift-and-add in XLA, any device), ``"grouped"`` (XLA
        grouped conv), or a :class:`~imagenet.depthwise.Depthwise`.

    Returns:
      ``Classifier(name, resolution, logits_fn)`` where ``logits_fn`` is
      ``Partial(apply_logits, graphdef, state)`` of the model with its BatchNorms folded
      (:func:`~imagenet.weights.fold_batchnorm`): f32[n, res, res, 3] in [0, 255]
      -> f32[n, 1000] logits.

    Raises:
      ValueError: an unknown model or depthwise method, or weights that do not fit.
    """
    canonical = resolve_model_name(name)
    method = resolve_depthwise(depthwise)
    model = build_model(canonical, cached_weights(canonical, cache_dir=cache_dir), depthwise=method)
    graphdef, state = nnx.split(fold_batchnorm(model))
    return Classifier(canonical, MODELS[canonical], jax.tree_util.Partial(apply_logits, graphdef, state))
