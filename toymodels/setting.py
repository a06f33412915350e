"""The setting: (task, training configuration, seed) -> trained model, sample of D, key.

The only place that turns a task into what a measurement runs on. The report, every
geometry measure, the command line, the app and the benchmark all start here, so a
preset's numbers agree wherever they are shown:

- the model is the task's preset configuration trained with ``seed``, or reused from
  the ``.npz`` a previous run saved in the cache (named by the configuration's hash);
  data-defined (CSV) tasks are trained afresh and never saved;
- the sample of D and the key left for the measurement come from one split of
  ``jax.random.key(seed)``: ``k_data, k_rest = split(key(seed))``.

Example:
    >>> s = make_setting("margins", seed=0, n_points=200)  # doctest: +SKIP
    >>> s.x.shape, s.y.shape  # doctest: +SKIP
    ((200, 2), (200,))
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from store import cache_dir, config_digest
from toymodels.datasets import Task, get_task
from toymodels.modelfile import load_model, save_model
from toymodels.presets import preset_config
from toymodels.train import TrainConfig, train

Progress = Callable[[float, float], None]   # (fraction of training done, current loss)


class Model(NamedTuple):
    """A trained plane model, fresh or reused from the cache."""

    logits_fn: jax.tree_util.Partial  # f32[n, 2] -> f32[n, classes]
    config: TrainConfig
    accuracy: float | None            # on a fresh sample of D; None when reused
    reused: bool


class Setting(NamedTuple):
    """A trained model, the sample of D and the key left for the measurement."""

    task: Task
    logits_fn: jax.tree_util.Partial
    x: jax.Array                   # f32[n, 2] points of D
    y: jax.Array                   # i32[n]    their true labels
    key: jax.Array                 # a jax.random.key for the measurement's own randomness
    config: TrainConfig
    accuracy: float | None         # clean accuracy of a fresh model; None when reused


def check_points(n_points) -> int:
    """Returns ``n_points`` as a positive int, else raises ValueError (one line)."""
    try:
        n = int(n_points)
    except (TypeError, ValueError):
        raise ValueError(f"points must be a positive whole number, got {n_points!r}") from None
    if n < 1:
        raise ValueError(f"points must be a positive whole number, got {n_points!r}")
    return n


def model_path(task: Task, config: TrainConfig) -> str | None:
    """Where the model of ``config`` trained on ``task`` is cached (None for data-defined
    tasks, which are never saved)."""
    if task.points is not None:
        return None
    return os.path.join(cache_dir("toymodels"), f"{task.name}-{config_digest(config)}.npz")


def load_or_train(task: Task, config: TrainConfig, *, reuse: bool = True,
                  progress: Progress | None = None) -> Model:
    """Reuses the cached ``.npz`` of ``config`` on a named task, else trains (and saves) it.

    Args:
      task: a :class:`toymodels.Task`.
      config: the training configuration.
      reuse: reuse (and keep) the cached model; ``False`` trains afresh and leaves the
        cache alone.
      progress: ``(fraction_done, loss)`` callback while training.

    Returns:
      A :class:`Model`.

    Raises:
      toymodels.TrainingDiverged, ValueError: from training.
    """
    path = model_path(task, config)
    if reuse and path is not None and os.path.exists(path):
        try:
            loaded = load_model(path)
            return Model(loaded.logits_fn, loaded.config, None, True)
        except ValueError:
            pass  # a stale or foreign file: train again and overwrite it
    t = train(task, config, progress=progress)
    if reuse and path is not None:
        save_model(path, t, task_name=task.name, num_classes=task.num_classes)
    return Model(t.logits_fn, t.config, t.accuracy, False)


def sample_of_d(task: Task, seed: int, n_points: int = 1000, *,
                max_points: int | None = None) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    """The sample of D drawn from ``seed``, and the key left for the measurement.

    Args:
      task: a :class:`toymodels.Task`.
      seed: the one seed; ``k_data, k_rest = split(key(seed))``.
      n_points: size of the sample (data-defined tasks use their own points).
      max_points: data-defined tasks with more points are subsampled without
        replacement to this many (``None``: all of them).

    Returns:
      ``(x f32[n, 2], y i32[n], k_rest)``.
    """
    k_data, k_rest = jax.random.split(jax.random.key(seed))
    if task.points is not None:
        x, y = (np.asarray(a) for a in task.points)
        if max_points is not None and len(x) > max_points:
            idx = np.sort(np.asarray(jax.random.permutation(k_data, len(x))[:max_points]))
            x, y = x[idx], y[idx]
    else:
        x, y = (np.asarray(a) for a in task.sample(k_data, n_points))
    return x.astype(np.float32), y.astype(np.int32), k_rest


def make_setting(task, *, seed: int = 0, n_points: int = 1000, reuse: bool = True,
                 config: TrainConfig | None = None, progress: Progress | None = None,
                 max_points: int | None = None) -> Setting:
    """Trains (or reuses) the task's model and draws its sample of D.

    Args:
      task: a task name or a :class:`toymodels.Task`.
      seed: the one seed (model, sample, and the measurement's key).
      n_points: size of the sample of D.
      reuse: reuse a cached model of the same configuration.
      config: the training configuration (default: the task's preset with ``seed``).
      progress: ``(fraction_done, loss)`` callback while training.
      max_points: subsample data-defined tasks to this many points.

    Returns:
      A :class:`Setting`.
    """
    task = get_task(task) if isinstance(task, str) else task
    n_points = check_points(n_points)
    config = preset_config(task.name, seed=seed) if config is None else config
    model = load_or_train(task, config, reuse=reuse, progress=progress)
    x, y, key = sample_of_d(task, seed, n_points, max_points=max_points)
    return Setting(task, model.logits_fn, jnp.asarray(x), jnp.asarray(y), key, model.config,
                   model.accuracy)
