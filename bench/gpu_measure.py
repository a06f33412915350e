"""The GPU check's measurements (:mod:`bench.gpu` runs them): batch ladders and whole runs.

- :func:`measure_forward_gradient`: a model's jitted forward + input gradient, float32 and
  bfloat16 (floating leaves of ``logits_fn`` and the inputs cast, :func:`cast_floating`),
  batch after batch of a ladder (:func:`climb`) until images/s stops growing or memory
  runs out;
- :func:`measure_universal_runs`: whole ``imagenet.run_universal`` runs on the bundled
  photos;
- :func:`device_info`: the device and the library versions.

A model is a :class:`Subject`: EfficientNet-Lite (:func:`efficientnet_subject`) or the
tiny net of :mod:`bench.tiny_net` (:func:`tiny_subject`).

Example:
    >>> climb(lambda b: {"images_per_s": {8: 10.0, 16: 30.0, 32: 30.5}[b]}, (8, 16, 32, 64))["best_batch"]
    32
"""

from __future__ import annotations

import platform
import time
from typing import Callable, NamedTuple

from bench.gpu_report import peak_gflops

DTYPES = ("float32", "bfloat16")
UAP_NORM, UAP_EPS = "inf", 10.0  # pixels in [0, 255]: the universal-perturbation paper's radius
CATEGORY_EPS = (4.0, 10.0)       # the categories at scale: below and at the paper's radius


def batch_ladder(low: int = 8, high: int = 512) -> tuple[int, ...]:
    """Powers of two from ``low`` to ``high`` (both included when powers of two)."""
    out, b = [], low
    while b <= high:
        out.append(b)
        b *= 2
    return tuple(out)


class CheckSettings(NamedTuple):
    """How much the check measures (:data:`GPU`: a real GPU; :data:`TINY`: the tiny net)."""

    batches: tuple = batch_ladder(8, 512)   # the ladder of the forward+gradient batch sizes
    repeats: int = 5                        # timed calls per batch, after one warm-up
    min_gain: float = 0.03                  # the climb stops below this gain in images/s
    photos: int = 16                        # distinct photos, tiled to each batch
    images: int = 256                       # the runs' training images
    val: int = 64                           # the runs' held-out images
    run_batch: int = 32                     # the runs' images per update
    passes: int = 3                         # the runs' passes (target 1.0: no early stop before)
    methods: tuple = ("deepfool", "sgd")
    seed: int = 0


GPU = CheckSettings()
TINY = CheckSettings(batches=batch_ladder(8, 16), repeats=2, photos=8, images=16, val=8,
                     run_batch=4, passes=2)


class Subject(NamedTuple):
    """A model to measure: the float32 classifier, and the same weights in the portable
    formulation (any dtype compiles) that is cast for bfloat16."""

    classifier: object          # name, resolution, logits_fn (imagenet.Classifier)
    portable_logits_fn: Callable
    forward_flops: int          # one image's forward pass
    depthwise: dict             # {dtype: the depthwise formulation timed}


def efficientnet_subject(name: str) -> Subject:
    """EfficientNet-Lite ``name`` as ``load_model(depthwise="auto")`` gives it, and in the
    ``shift`` formulation for bfloat16 where auto picked the native (CPU, float32) kernel."""
    from imagenet import Depthwise, forward_flops, load_model, resolve_depthwise

    method = resolve_depthwise("auto")
    classifier = load_model(name, depthwise=method)
    portable = (load_model(name, depthwise=Depthwise.SHIFT) if method is Depthwise.NATIVE
                else classifier)
    return Subject(classifier, portable.logits_fn, forward_flops(name),
                   {"float32": method.value, "bfloat16": Depthwise.SHIFT.value
                    if method is Depthwise.NATIVE else method.value})


def tiny_subject(seed: int = 0) -> Subject:
    """The tiny net of :mod:`bench.tiny_net` (plain convolutions: no depthwise)."""
    from bench.tiny_net import tiny_classifier, tiny_forward_flops

    c = tiny_classifier(seed)
    return Subject(c, c.logits_fn, tiny_forward_flops(), {d: "none" for d in DTYPES})


def cast_floating(tree, dtype):
    """``tree`` (e.g. a classifier's ``logits_fn`` Partial) with its floating leaves cast to ``dtype``."""
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is XLA's out-of-memory error (RESOURCE_EXHAUSTED)."""
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def climb(measure: Callable[[int], dict], batches, *, min_gain: float = 0.03) -> dict:
    """Measures batch after batch of ``batches`` until images/s stops growing.

    Args:
      measure: ``batch -> {"images_per_s", ...}``; may raise XLA's out-of-memory error.
      batches: increasing batch sizes.
      min_gain: the climb stops after a batch whose images/s is below ``1 + min_gain``
        times the best so far, or at the first out-of-memory error (recorded, not raised).

    Returns:
      ``{"best_batch", "best" (the best row), "ladder": [{"batch", ...} or {"batch", "error"}]}``.
    """
    ladder, best = [], None
    for b in batches:
        try:
            row = {"batch": b, **measure(b)}
        except Exception as e:  # noqa: BLE001 - only out-of-memory is expected, the rest is raised
            if not is_out_of_memory(e):
                raise
            ladder.append({"batch": b, "error": "out of memory"})
            break
        ladder.append(row)
        grew = best is None or row["images_per_s"] >= best["images_per_s"] * (1 + min_gain)
        if best is None or row["images_per_s"] > best["images_per_s"]:
            best = row
        if not grew:
            break
    return {"best_batch": best["batch"] if best else None, "best": best, "ladder": ladder}


def photos(n: int, resolution: int, *, seed: int = 0):
    """``f32[n, res, res, 3]`` preprocessed bundled photos (augmented copies past 16)."""
    import jax
    import numpy as np

    from imagenet import bundled_items, default_preprocess, load_item

    items = bundled_items(n, jax.random.key(seed))
    return np.stack([load_item(item, resolution, default_preprocess) for item in items])


def time_forward_gradient(logits_fn, images, batch: int, *, repeats: int) -> dict:
    """Times the jitted forward + input gradient on ``batch`` images (``images`` tiled), in
    the dtype of ``logits_fn``'s floating leaves.

    Returns:
      ``{"images_per_s", "median_s", "min_s", "max_s", "runs", "logits_dtype", "gradient_dtype"}``.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench.imagenet_bench import forward_gradient
    from bench.measure import time_call

    dtype = next(a.dtype for a in jax.tree.leaves(logits_fn) if jnp.issubdtype(a.dtype, jnp.floating))
    x = jnp.asarray(np.take(images, np.arange(batch) % len(images), axis=0), dtype)
    labels = jnp.zeros(batch, jnp.int32)  # any class: the same work as the predicted one, no extra compile
    t = time_call(lambda: forward_gradient(logits_fn, x, labels), warmup=1, repeats=repeats)
    return {"images_per_s": batch / t.median, **t.as_dict(),
            "logits_dtype": str(jax.eval_shape(logits_fn, x).dtype),
            "gradient_dtype": str(t.value[1].dtype)}


def measure_forward_gradient(subject: Subject, settings: CheckSettings, peak: dict | None) -> dict:
    """The batch ladder of ``subject``'s forward + input gradient in float32 and bfloat16.

    Returns:
      ``{dtype: {"depthwise", "best_batch", "images_per_s", "gflops", "peak_gflops",
      "share_of_peak" (None for an unknown device), "logits_dtype", "ladder"}}``.
    """
    import jax.numpy as jnp

    images = photos(min(settings.photos, max(settings.batches)), subject.classifier.resolution,
                    seed=settings.seed)
    fns = {"float32": subject.classifier.logits_fn,
           "bfloat16": cast_floating(subject.portable_logits_fn, jnp.bfloat16)}
    out = {}
    for dtype in DTYPES:
        fn = fns[dtype]
        c = climb(lambda b: time_forward_gradient(fn, images, b, repeats=settings.repeats),
                  settings.batches, min_gain=settings.min_gain)
        best, top = c["best"], peak_gflops(peak, dtype)
        gflops = None if best is None else 2 * subject.forward_flops * best["images_per_s"] / 1e9
        out[dtype] = {"depthwise": subject.depthwise[dtype], "best_batch": c["best_batch"],
                      "images_per_s": best and best["images_per_s"], "gflops": gflops,
                      "peak_gflops": top,
                      "share_of_peak": None if gflops is None or top is None else gflops / top,
                      "logits_dtype": best and best["logits_dtype"],
                      "forward_gflops_per_image": subject.forward_flops / 1e9,
                      "ladder": c["ladder"]}
    return out


def measure_universal_runs(classifier, settings: CheckSettings) -> dict:
    """Whole ``imagenet.run_universal`` runs of each method on the bundled photos (linf eps 10,
    target 1.0), outputs in a temporary folder.

    Returns:
      ``{"model", "norm", "eps", "images", "val", "batch", "methods": {method:
      {"images_per_s" (the run's attack_images_per_second), "fooling_rate_history",
      "fooling_rate", "fooling_rate_heldout", "passes", "max_passes", "wall_s",
      "perturbation_linf"}}}``.
    """
    import tempfile

    from imagenet import RunConfig, build_splits, run_universal

    s = settings
    splits = build_splits(None, s.images, s.val, s.seed)
    out = {"model": classifier.name, "norm": UAP_NORM, "eps": UAP_EPS, "images": len(splits.train),
           "val": len(splits.val), "batch": s.run_batch, "methods": {}}
    for method in s.methods:
        config = RunConfig(method=method, norm=UAP_NORM, eps=UAP_EPS, batch=s.run_batch,
                           passes=s.passes, target=1.0, seed=s.seed)
        with tempfile.TemporaryDirectory(prefix="bench-gpu-run-") as folder:
            start = time.perf_counter()
            m = run_universal(classifier, splits, config, folder, progress=False)
        out["methods"][method] = {
            "images_per_s": m["attack_images_per_second"],
            "fooling_rate_history": m["fooling_rate_history"], "fooling_rate": m["fooling_rate"],
            "fooling_rate_heldout": m["fooling_rate_heldout"], "passes": m["passes"],
            "max_passes": s.passes, "wall_s": time.perf_counter() - start,
            "perturbation_linf": m["perturbation_norm"]["linf"]}
    return out


def measure_categories_run(classifier, settings: CheckSettings) -> dict:
    """``python -m imagenet categories`` on the bundled photos (linf, eps 4 and 10, tau 0.8):
    the four estimated fractions at scale, the verdict and the wall time.

    Returns:
      ``{"model", "norm", "images", "val", "counted", "wall_s", "curve": [{"eps", "robust",
      "pointwise", "universal", "random", "random_interval", "random_deltas", "verdict"}]}``.
    """
    from imagenet import FractionSettings, build_splits, measure_categories

    s = settings
    splits = build_splits(None, s.images, s.val, s.seed)
    start = time.perf_counter()
    budgets = FractionSettings(passes=s.passes, batch=s.run_batch)
    result = measure_categories(classifier, splits, norm=UAP_NORM, eps_values=CATEGORY_EPS,
                                tau=0.8, seed=s.seed, settings=budgets).result
    keys = ("eps", "robust", "pointwise", "universal", "random", "random_interval",
            "random_deltas", "verdict")
    return {"model": classifier.name, "norm": UAP_NORM, "images": result["images"],
            "val": result["val"], "counted": result["counted"],
            "wall_s": time.perf_counter() - start,
            "curve": [{k: r[k] for k in keys} for r in result["curve"]]}


def device_info() -> dict:
    """JAX's first device (``device_kind``, platform), the device count and the versions."""
    import jax
    import jaxlib

    d = jax.devices()[0]
    return {"device": {"kind": d.device_kind, "platform": d.platform, "count": jax.device_count(),
                       "all": [str(x) for x in jax.devices()]},
            "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                         "python": platform.python_version()}}
