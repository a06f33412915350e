"""The model and the sample of D that a geometry measurement runs on.

Every geometry tool (normals, crossings, transfer, retraining, certificates, dominant
labels) starts the same way as :func:`categories.report.report_task`: the task's preset
model (trained with ``seed``, or reused from the cache) and a sample of D drawn from
the same ``jax.random.key(seed)``, so the numbers agree with the report's.

Example:
    >>> s = model_and_points("pancakes", seed=0, n_points=200)  # doctest: +SKIP
    >>> s.x.shape, s.y.shape
    ((200, 2), (200,))
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from categories.presets import load_or_train, preset_config
from toymodels import TrainConfig, get_task


class Setting(NamedTuple):
    """A trained model, the sample of D and the key left for the measurement."""

    task: object                   # toymodels.Task
    logits_fn: jax.tree_util.Partial
    x: jax.Array                   # f32[n, 2] points of D
    y: jax.Array                   # i32[n]    their true labels
    key: jax.Array                 # a jax.random.key for the measurement's own randomness
    config: TrainConfig


def check_points(n_points) -> int:
    """Returns ``n_points`` as a positive int, else raises ValueError (one line)."""
    try:
        n = int(n_points)
    except (TypeError, ValueError):
        raise ValueError(f"points must be a positive whole number, got {n_points!r}") from None
    if n < 1:
        raise ValueError(f"points must be a positive whole number, got {n_points!r}")
    return n


def model_and_points(task, *, seed: int = 0, n_points: int = 1000, reuse: bool = True,
                     config: TrainConfig | None = None) -> Setting:
    """Trains (or reuses) the task's model and draws its sample of D.

    The key split is the report's: ``k_data, k_rest = split(key(seed))``; data-defined
    (CSV) tasks use all their points.

    Args:
      task: a task name or a :class:`toymodels.Task`.
      seed: the one seed (model, sample, and the measurement's key).
      n_points: size of the sample of D.
      reuse: reuse a cached model of the same configuration.
      config: the training configuration (default: the task's preset with ``seed``).

    Returns:
      A :class:`Setting`.
    """
    task = get_task(task) if isinstance(task, str) else task
    n_points = check_points(n_points)
    config = preset_config(task.name, seed=seed) if config is None else config
    logits_fn, _ = load_or_train(task, config, reuse=reuse)
    k_data, k_rest = jax.random.split(jax.random.key(seed))
    if task.points is not None:
        x, y = (jnp.asarray(np.asarray(a)) for a in task.points)
        x, y = x.astype(jnp.float32), y.astype(jnp.int32)
    else:
        x, y = task.sample(k_data, n_points)
    return Setting(task, logits_fn, x, y, k_rest, config)


def parsed_options(args) -> tuple[str, float | None, int, int]:
    """``(norm, eps or None, seed, points)`` from a geometry subcommand's arguments.

    Raises:
      ValueError: one line naming the bad option.
    """
    from attacks.norms import parse_norm
    from categories.cli import seed_of
    from categories.report import check_eps

    norm = parse_norm(args.norm)
    eps = None if args.eps is None else check_eps(args.eps)
    try:
        points = check_points(args.points)
    except ValueError:
        raise ValueError(f"--points must be a positive whole number, got {args.points!r}") from None
    return norm, eps, seed_of(args), points
