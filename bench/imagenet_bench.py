"""EfficientNet-Lite0 at full scale: images/s of its hot paths against the machine's peak.

Two figures on a batch of real photos (scikit-image's bundled ones, cropped and mirrored):

- the jitted forward + input-gradient pass (the unit of work of every gradient attack),
  with its FLOP rate, ``2 x forward_flops`` (the input gradient of each layer is a layer
  of the same size; no weight gradients are formed), as a share of the float32 matmul
  rate measured in alternation with it;
- one ``attacks.universal_update`` step (Algorithm 1 on a mini-batch, DeepFool inner step)
  in images/s, as a share of the forward + gradient rate;
- whole runs of the universal algorithms (``imagenet.run_universal``: ``deepfool``,
  Algorithm 1, and ``sgd``, stochastic ascent) on the bundled photos: the images the run
  attacks per second (decoding included, compilation left out), as a share of the forward +
  gradient rate.

Example (slow: loads and compiles the model):
    >>> out = measure_imagenet(batch=2, repeats=1, peak_gflops=100.0, universal=False)
    >>> out["forward_gradient"]["images_per_s"] > 0
    True
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from attacks import universal_update
from bench.machine import share_of_matmul
from bench.measure import time_pair

MODEL = "efficientnet-lite0"
UAP_NORM, UAP_EPS = "inf", 10.0  # on pixels in [0, 255], the universal-perturbation paper's radius


@jax.jit
def forward_gradient(logits_fn, x, labels):
    """Cross-entropy of ``labels`` and its gradient w.r.t. the input ``x`` (f32[b, h, w, 3])."""

    def loss(x):
        logp = jax.nn.log_softmax(logits_fn(x))
        return -jnp.take_along_axis(logp, labels[:, None], 1).sum()

    return jax.value_and_grad(loss)(x)


def photo_batch(batch: int, resolution: int, *, seed: int = 0) -> np.ndarray:
    """``f32[batch, res, res, 3]`` preprocessed bundled photos (augmented copies past 16)."""
    from imagenet import bundled_items, default_preprocess, load_item

    items = bundled_items(batch, jax.random.key(seed))
    return np.stack([load_item(item, resolution, default_preprocess) for item in items])


def measure_runs(classifier, *, methods=("sgd", "deepfool"), images: int = 32, batch: int = 8,
                 passes: int = 3, seed: int = 0) -> dict:
    """Images/s of whole universal-perturbation runs (``imagenet.run_universal``) on bundled photos.

    Each run attacks ``images`` photos for ``passes`` passes (no early stop), linf eps 10,
    with its checkpoints and outputs in a temporary folder.

    Returns:
      ``{method: {"images_per_s", "fooling_rate_history", "wall_s", "images", "passes"}}``.
    """
    import tempfile
    import time

    from imagenet import RunConfig, build_splits, run_universal

    splits = build_splits(None, images, 0, seed)
    out = {}
    for method in methods:
        config = RunConfig(method=method, norm=UAP_NORM, eps=UAP_EPS, batch=batch,
                           passes=passes, target=1.0, seed=seed)
        with tempfile.TemporaryDirectory(prefix="bench-run-") as folder:
            start = time.perf_counter()
            m = run_universal(classifier, splits, config, folder, progress=False)
        out[method] = {"images_per_s": m["attack_images_per_second"],
                       "fooling_rate_history": m["fooling_rate_history"],
                       "wall_s": time.perf_counter() - start, "images": images,
                       "passes": passes}
    return out


def measure_imagenet(*, batch: int = 8, repeats: int = 3, pairs: int | None = None, peak_gflops: float,
                     universal: bool = True, seed: int = 0, matmul_size: int = 2048) -> dict:
    """Times the forward + input-gradient pass and one universal update on a batch.

    The CPU may be shared, so each figure that is a share is taken pair by pair: the
    forward + gradient pass alternates with a ``matmul_size``-square float32 matmul (its
    share of the matmul's FLOP rate in each pair), and the universal update alternates
    with the forward + gradient pass.

    Args:
      batch: images per call.
      repeats: timed pairs of the universal update and forward+gradient, after one warm-up.
      pairs: forward+gradient / matmul pairs (default ``repeats``).
      peak_gflops: the run's matmul peak (reported beside the paired share).
      universal: also time ``attacks.universal_update`` and whole runs of both universal
        algorithms (:func:`measure_runs`; about a minute and a half).
      seed: photo augmentation seed.
      matmul_size: the paired matmul's size.

    Returns:
      ``{"model", "batch", "depthwise" (the formulation timed), "forward_gradient": {...}, "universal_update": {...} or None,
      "runs": {method: {... "share_of_forward_gradient"}} or None}``.
    """
    from imagenet import forward_flops, load_model, resolve_depthwise

    depthwise = resolve_depthwise("auto")  # what the runner uses here
    classifier = load_model(MODEL, depthwise=depthwise)
    f = classifier.logits_fn
    x = jnp.asarray(photo_batch(batch, classifier.resolution, seed=seed))
    labels = jnp.argmax(f(x), -1)
    step = lambda: forward_gradient(f, x, labels)
    fg = share_of_matmul(step, 2 * forward_flops(MODEL, batch), repeats=pairs or repeats,
                         size=matmul_size)
    fg.update(images_per_s=batch / fg["median_s"], share_of_run_peak=fg["gflops"] / peak_gflops)
    out = {"model": MODEL, "batch": batch, "depthwise": depthwise.value, "forward_gflops_per_image": forward_flops(MODEL) / 1e9,
           "forward_gradient": fg, "universal_update": None, "runs": None}
    if universal:
        v = jnp.zeros(x.shape[1:], x.dtype)
        pair = time_pair(step, lambda: universal_update(f, v, x, labels, norm=UAP_NORM,
                                                        eps=UAP_EPS),
                         repeats=repeats, warmup_a=0)
        u, share = pair.b, pair.time_ratio()
        out["universal_update"] = {**u.as_dict(), "images_per_s": batch / u.median,
                                   "norm": UAP_NORM, "eps": UAP_EPS,
                                   "share_of_forward_gradient": share["median"],
                                   "share_range": [share["min"], share["max"]],
                                   "gradient_passes_per_image": 1.0 / share["median"]}
        runs = measure_runs(classifier, batch=batch, seed=seed)
        for r in runs.values():
            r["share_of_forward_gradient"] = r["images_per_s"] / fg["images_per_s"]
        out["runs"] = runs
    return out
