"""A full-scale classifier, ours or the user's: :class:`Classifier`, and what the commands check of it.

Every command takes a :class:`Classifier`: a name, the input side, and a pure
``logits_fn`` of pixels ``f32[n, res, res, 3]`` in [0, 255] (NHWC) returning
``f32[n, classes]``, any number of classes. A user's builder (``--model
MODULE:FUNCTION``) may return any such object; :func:`check_classifier` says in one
line what is wrong with it before any work. ImageNet class names are shown only for a
model of 1000 classes (:func:`label_names`); other models show class indices, or the
names they carry.

Example:
    >>> import jax.numpy as jnp
    >>> clf = Classifier("linear", 8, lambda x: jnp.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], axis=1))
    >>> check_classifier(clf, "mymodel:build") == clf, num_classes(clf), label_names(clf)
    (True, 2, None)
"""

from __future__ import annotations

import operator
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from imagenet.classes import NUM_CLASSES
from store import SpecError, one_line


class Classifier(NamedTuple):
    """A loaded model: ``logits_fn(x f32[n, res, res, 3] in [0, 255]) -> f32[n, classes]``.

    Attributes:
      name: shown in outputs (``efficientnet-lite0``, or the user's).
      resolution: the input side in pixels (images are cropped and resized to it).
      logits_fn: a pure, jittable function; a pytree such as
        ``jax.tree_util.Partial(apply, graphdef, state)`` lets other weights reuse the
        compiled steps.
      class_names: optional names of the classes, indexed by class id; without them an
        ImageNet-1k model (1000 classes) shows ImageNet's names, any other the index.
    """

    name: str
    resolution: int
    logits_fn: Callable[[jax.Array], jax.Array]
    class_names: Sequence[str] | None = None


def num_classes(classifier) -> int:
    """The number of classes: the logits' last axis on one image, by shape inference (no compute)."""
    side = classifier.resolution
    return int(jax.eval_shape(classifier.logits_fn, jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)).shape[-1])


def label_names(classifier, classes: int | None = None) -> tuple[str, ...] | None:
    """Class names for the outputs: the classifier's own, ImageNet's for 1000 classes, else None (indices).

    Args:
      classifier: has ``resolution`` and ``logits_fn``, and maybe ``class_names``.
      classes: its class count if known (else :func:`num_classes`).

    Returns:
      A tuple of ``classes`` names, or None where outputs should show the class index.
    """
    own = getattr(classifier, "class_names", None)
    if own is not None:
        return tuple(own)
    if (num_classes(classifier) if classes is None else classes) != NUM_CLASSES:
        return None
    from imagenet.classes import class_names

    return class_names()


def _check_fields(obj, spec: str) -> None:
    """The fields' types: one SpecError naming the first that is wrong."""
    if not isinstance(obj, Classifier):
        raise SpecError(f"{spec}() returned a {type(obj).__name__}, expected an "
                        "imagenet.Classifier(name, resolution, logits_fn)")
    if not isinstance(obj.name, str) or not obj.name.strip():
        raise SpecError(f"{spec}() returned a Classifier whose name is {obj.name!r}, expected a non-empty str")
    try:
        side = operator.index(obj.resolution)
    except TypeError:
        side = None
    if side is None or isinstance(obj.resolution, bool) or side < 1:
        raise SpecError(f"{spec}() returned a Classifier whose resolution is {obj.resolution!r}, "
                        "expected a positive int (the input side in pixels)")
    if not callable(obj.logits_fn):
        raise SpecError(f"{spec}() returned a Classifier whose logits_fn is a {type(obj.logits_fn).__name__}, "
                        "expected a function of f32[n, res, res, 3] pixels")


def check_classifier(obj, spec: str) -> Classifier:
    """The user's builder's result, checked: one line saying what is wrong, before any work.

    Args:
      obj: what ``FUNCTION()`` returned.
      spec: the ``MODULE:FUNCTION`` text, named in a message.

    Returns:
      ``obj`` with ``resolution`` as a Python int and ``class_names`` as a tuple (or None).

    Raises:
      store.SpecError: not an ``imagenet.Classifier``; a name that is not a str; a
        resolution that is not a positive int; a ``logits_fn`` that is not callable,
        raises on one image ``f32[1, res, res, 3]``, or does not give float logits of
        shape ``[1, classes]`` with at least 2 classes; class names of another count.
    """
    _check_fields(obj, spec)
    side = operator.index(obj.resolution)
    image = jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)
    try:
        out = jax.eval_shape(obj.logits_fn, image)
    except Exception as err:  # noqa: BLE001 - the user's function may raise anything
        raise SpecError(f"{spec}(): logits_fn raised on one image f32[1, {side}, {side}, 3]: {one_line(err)}") from None
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape is None or len(shape) != 2 or shape[0] != 1 or shape[1] < 2 or not jnp.issubdtype(dtype, jnp.floating):
        got = f"{dtype}{list(shape)}" if shape is not None else type(out).__name__
        raise SpecError(f"{spec}(): logits_fn gave {got} on one image f32[1, {side}, {side}, 3], "
                        "expected float logits of shape [1, classes] with at least 2 classes")
    names = obj.class_names
    if names is not None:
        names = tuple(names) if isinstance(names, (list, tuple)) else None
        if names is None or len(names) != shape[1] or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{spec}(): class_names must be a list or tuple of {shape[1]} str (one per class), "
                            f"got {obj.class_names!r:.80}")
    return obj._replace(resolution=side, class_names=names)
