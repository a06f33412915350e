"""The project's own hot paths: training a preset, and classifying a grid of the plane.

Example:
    >>> out = time_presets(("margins",), repeats=1, steps=20)
    >>> out["margins"]["median_s"] > 0
    True
"""

from __future__ import annotations

import dataclasses

import jax

from bench.machine import mlp_flops, share_of_matmul
from bench.measure import time_call, time_pair
from toymodels import preset_config
from toymodels import PRESETS, classify_grid, get_task, plane_grid, train


def time_presets(names=tuple(PRESETS), *, repeats: int = 3, steps: int | None = None) -> dict:
    """Warm training time of each preset (its default configuration, seed 0).

    The warm-up run compiles the training loop; the timed runs are what the app's user
    waits for once the process is warm.

    Args:
      names: preset names.
      repeats: timed runs per preset.
      steps: override the preset's training steps (``None``: its own; smoke tests only).

    Returns:
      ``{name: timing + {"steps", "accuracy"}}``.
    """
    out = {}
    with jax.numpy_dtype_promotion("standard"):
        for name in names:
            config = preset_config(name)
            if steps is not None:
                config = dataclasses.replace(config, steps=steps)
            t = time_call(lambda: train(get_task(name), config), warmup=1, repeats=repeats)
            out[name] = {**t.as_dict(), "steps": config.steps, "accuracy": t.value.accuracy}
    return out


def time_timeline(name: str = "pancakes", *, snapshots: int | None = None, repeats: int = 3,
                  steps: int | None = None) -> dict:
    """Training a preset plainly against training it for the app's timeline.

    The timeline records ``snapshots`` snapshots (default: the ``/train`` page's,
    :data:`drawing.DEFAULT_SNAPSHOTS`), each with its frame (the regions over
    the plane's grid, drawn as an RGB array): :func:`drawing.record_training`, as the
    ``/train`` page does. Timed in alternation (:func:`bench.measure.time_pair`), warm.

    Returns:
      ``{"plain": timing, "timeline": timing, "ratio": {"median", "min", "max"},
      "snapshots", "steps", "preset"}``: ``ratio`` is the timeline's time over the plain
      run's, pair by pair (goal <= 1.5).
    """
    from drawing import DEFAULT_SNAPSHOTS, FRAME_RES, record_training, support_map

    snapshots = DEFAULT_SNAPSHOTS if snapshots is None else snapshots

    task, config = get_task(name), preset_config(name)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    support = support_map(task, FRAME_RES).label
    with jax.numpy_dtype_promotion("standard"):
        pair = time_pair(lambda: train(task, config).logits_fn,
                         lambda: record_training(task, config, snapshots, support=support).frames,
                         repeats=repeats)
    return {"plain": pair.a.as_dict(), "timeline": pair.b.as_dict(), "ratio": pair.speedup(),
            "snapshots": snapshots, "steps": config.steps, "preset": name}


def time_grid(logits_fn, *, res: int = 1024, repeats: int = 5, matmul_size: int = 2048) -> dict:
    """Classifying a ``res x res`` grid of the plane (the app's region picture), with FLOP rate.

    Each call is timed beside a float32 matmul (:func:`bench.machine.share_of_matmul`).

    Returns:
      timing + ``{"res", "points", "gflops", "share_of_peak", ...}`` (``res**2`` x the
      MLP's FLOPs per point).
    """
    grid = plane_grid(((-1.0, 1.0), (-1.0, 1.0)), res)
    flops = res * res * mlp_flops(logits_fn)
    return {"res": res, "points": res * res, **share_of_matmul(
        lambda: classify_grid(logits_fn, grid, with_confidence=True), flops, repeats=repeats,
        size=matmul_size)}
