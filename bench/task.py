"""The one fixed 2D task every comparison of the benchmark runs on.

Three Gaussian blobs and a wavy strip between them (``toymodels.get_task("blobs-strip")``,
four classes), the fixed MLP of its training preset (64 wide, 3 hidden layers, seed 0),
and a fixed evaluation sample of D. Every figure of the table -- ours and the peers' --
is measured on these weights and these points, for the three settings of
:data:`SETTINGS`.

Example:
    >>> shared = shared_task(n=8, steps=20)
    >>> shared.x.shape, shared.y.shape
    ((8, 2), (8,))
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax

from toymodels import TrainConfig, make_setting, preset_config

TASK_NAME = "blobs-strip"
N_POINTS = 1000


class Setting(NamedTuple):
    """One norm and radius of the comparison."""

    name: str   # e.g. "linf 0.1", the key of every per-setting JSON figure
    norm: str   # "2" or "inf"
    eps: float


SETTINGS = (Setting("linf 0.1", "inf", 0.1), Setting("linf 0.3", "inf", 0.3),
            Setting("l2 0.3", "2", 0.3))


class SharedTask(NamedTuple):
    """The task, its fixed trained model and the evaluation points."""

    task: object                     # toymodels.Task
    config: TrainConfig
    logits_fn: jax.tree_util.Partial  # f32[n, 2] -> f32[n, 4]
    accuracy: float                  # the model's clean accuracy on a fresh sample of D
    x: jax.Array                     # f32[n, 2] evaluation points of D
    y: jax.Array                     # i32[n] their labels
    key: jax.Array                   # the attacks' key (split per use)


def shared_task(n: int = N_POINTS, *, seed: int = 0, steps: int | None = None) -> SharedTask:
    """Trains the fixed MLP and draws the evaluation sample.

    Args:
      n: evaluation points.
      seed: the one seed: the model's training seed; the points and attack keys are
        split from ``jax.random.key(seed)``.
      steps: training steps (``None``: the preset's 2000; fewer only for smoke tests).

    Returns:
      A :class:`SharedTask`.
    """
    config = preset_config(TASK_NAME, seed=seed)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    with jax.numpy_dtype_promotion("standard"):
        s = make_setting(TASK_NAME, seed=seed, n_points=n, config=config, reuse=False)
    return SharedTask(s.task, s.config, s.logits_fn, s.accuracy, s.x, s.y, s.key)
