"""Loading a model by its ``--model`` name: :func:`load_model`, and the EfficientNet-Lite family's loader.

:func:`load_model` takes a registered name (:mod:`imagenet.registry`) or the user's
``MODULE:FUNCTION``, whose result is checked (:func:`imagenet.classifier.check_classifier`).

The EfficientNet-Lite loader (:func:`load_efficientnet_lite`) builds the network
(:mod:`imagenet.network`), loads the converted weights and folds the BatchNorms
(:mod:`imagenet.weights`), calls ``nnx.split`` once and returns
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

import jax
from flax import nnx

from imagenet.classifier import Classifier, check_classifier, num_classes
from imagenet.convert import cached_weights
from imagenet.depthwise import Depthwise, resolve_depthwise
from imagenet.network import apply_logits
from imagenet.registry import ModelChoice, choose_model, find_registered
from imagenet.specs import MODELS, resolve_model_name
from imagenet.weights import build_model, fold_batchnorm
from store import SpecError, call_spec, import_spec


def load_efficientnet_lite(name: str, *, cache_dir: str | os.PathLike | None = None,
                           depthwise: str | Depthwise = "auto") -> Classifier:
    """Load a pretrained EfficientNet-Lite as a pure, jittable classifier (the family's registered loader).

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


def load_model(name: str, *, cache_dir: str | os.PathLike | None = None,
               depthwise: str | Depthwise = "auto") -> Classifier:
    """Load a registered model, or the user's ``MODULE:FUNCTION``, as a pure, jittable classifier.

    Args:
      name: a registered name (``efficientnet-lite0|1|2`` or ``lite0|1|2``, see
        :mod:`imagenet.registry`), or ``MODULE:FUNCTION``: ``MODULE`` imported (the
        current folder first) and ``FUNCTION()`` called, returning a :class:`Classifier`.
      cache_dir: where a registered model's converted weights are cached (default
        ``store.cache_root()``: ``$ROBUSTNESS_CACHE`` or ``~/.cache/robustness-geometry``).
      depthwise: a registered EfficientNet-Lite's depthwise method (see
        :func:`load_efficientnet_lite`); the user's model is used as it is built.

    Returns:
      A :class:`Classifier`: ``logits_fn`` maps f32[n, res, res, 3] in [0, 255] to
      f32[n, classes] (1000 for the registered models).

    Raises:
      ValueError: an unknown name, or weights that do not fit; ``store.SpecError`` (a
        ValueError) for a user's model that cannot be imported, raises, or is not a
        :class:`Classifier` with logits of shape ``[n, classes]``.
    """
    found = find_registered(name)
    if found is not None:
        family, canonical = found
        return import_spec(family.loader)(canonical, cache_dir=cache_dir, depthwise=depthwise)
    choice = choose_model(name, flag=None)
    return check_classifier(call_spec(choice.spec), choice.spec)


def load_chosen(choice: ModelChoice, *, cache_dir: str | os.PathLike | None = None,
                flag: str = "--model") -> tuple[Classifier, int]:
    """A command's model: ``(classifier, number of classes)``; a user model's failure names ``flag``.

    Args:
      choice: from :func:`imagenet.registry.choose_model`.
      cache_dir: a registered model's weights cache.
      flag: the option the model came from.

    Raises:
      store.SpecError: the user's model cannot be loaded (one line, exit code 2).
    """
    try:
        classifier = load_model(choice.spec, cache_dir=cache_dir)
    except SpecError as err:
        raise SpecError(f"{flag}: {err}") from None
    return classifier, num_classes(classifier)
