"""Optax training of the plane MLP, fast enough for an interactive app.

The whole run is one jitted ``lax.scan`` over mini-batch steps (in a few chunks, so
that progress can be reported), on a training set that mixes uniform plane points
labelled by the task's intended classifier, points hugging its boundaries, and D.

Example:
    >>> from toymodels.datasets import get_task
    >>> trained = train(get_task("margins"), TrainConfig(steps=300))
    >>> trained.accuracy > 0.99
    True
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from toymodels.datasets import Task
from toymodels.mlp import apply_state, create_model


KEY_CHUNKS = 10   # how the training key is split (kept fixed so that the model does not
                  # depend on how often training stops to report or record)


class TrainingDiverged(ValueError, RuntimeError):
    """The loss became NaN or infinite: the data's scale or the learning rate is to blame.

    A ValueError (bad input the user can fix: the command lines exit 2 with its one line,
    the app shows it) and, as before, a RuntimeError.
    """


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hashable training configuration (a cache key for the app).

    Attributes:
      width: units per hidden layer.
      depth: number of hidden layers.
      activation: relu, sigmoid, tanh or gelu.
      steps: optimisation steps.
      learning_rate: peak Adam learning rate (cosine decay to 1% of it).
      batch_size: points per step.
      seed: the one seed every random choice derives from.
      weight_decay: decoupled weight decay (AdamW) per unit of learning rate; 0 is Adam.
    """

    width: int = 64
    depth: int = 3
    activation: str = "relu"
    steps: int = 2000
    learning_rate: float = 0.01
    batch_size: int = 256
    seed: int = 0
    weight_decay: float = 0.0


class Snapshot(NamedTuple):
    """The model as it was after a chunk of training (what a training timeline shows)."""

    step: int                         # optimisation steps done
    loss: float                       # mean training loss over the chunk's steps
    accuracy: float                   # accuracy on the training set
    logits_fn: jax.tree_util.Partial  # f32[n, 2] -> f32[n, classes], the model at ``step``


class Trained(NamedTuple):
    """A trained model and what its training reported."""

    logits_fn: jax.tree_util.Partial  # f32[n, 2] -> f32[n, classes]
    accuracy: float                   # clean accuracy on a fresh sample of D
    history: dict                     # "step", "loss", "accuracy": lists, one entry a chunk
    config: TrainConfig


def training_set(task: Task, key: jax.Array, n_uniform: int = 4000, n_boundary: int = 3000,
                 n_d: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Builds the points that shape the model's boundaries.

    Args:
      task: the task; tasks without an intended classifier train on D alone.
      key: a ``jax.random.key``.
      n_uniform, n_boundary, n_d: how many plane, near-boundary and D points (``n_d``
        by default the task's ``train_points``, 2000 unless :func:`toymodels.task_variant`
        changed it).

    Returns:
      ``(x f32[m, 2], y i32[m])``.
    """
    k_u, k_c, k_d = jax.random.split(key, 3)
    if task.points is not None:
        x, y = task.points if task.context is None else (
            np.concatenate([task.points[0], task.context[0]]),
            np.concatenate([task.points[1], task.context[1]]))
        return np.asarray(x, np.float32), np.asarray(y, np.int32)
    n_d = task.train_points if n_d is None else n_d
    xd, yd = (np.asarray(a) for a in task.sample(k_d, n_d))
    if task.region is None:
        return xd.astype(np.float32), yd.astype(np.int32)
    (x0, x1), (y0, y1) = task.bounds
    lo, hi = np.array([x0, y0]), np.array([x1, y1])
    xu = lo + (hi - lo) * np.asarray(jax.random.uniform(k_u, (n_uniform, 2)), np.float64)
    cand = lo + (hi - lo) * np.asarray(jax.random.uniform(k_c, (20 * n_boundary, 2)), np.float64)
    h = 0.03 * (x1 - x0) / 2
    base = task.region(cand)
    near = np.zeros(len(cand), bool)
    for a in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        near |= task.region(cand + h * np.array([np.cos(a), np.sin(a)])) != base
    xb = cand[near][:n_boundary]
    x = np.concatenate([xu, xb, xd.astype(np.float64)])
    y = np.concatenate([task.region(xu), task.region(xb), yd])
    return x.astype(np.float32), y.astype(np.int32)


def _loss(graphdef, params, x, y):
    logits = apply_state(graphdef, params, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@functools.partial(jax.jit, static_argnames=("graphdef", "optimizer", "batch_size"))
def train_steps(graphdef, optimizer, params, opt_state, x, y, keys, *, batch_size):
    """Runs one Adam step per key of ``keys`` (``key[steps]``) on random mini-batches; a
    pure function of the state.

    Returns:
      ``(params, opt_state, mean_loss)``.
    """

    def train_step(carry, k):
        params, opt_state = carry
        idx = jax.random.randint(k, (batch_size,), 0, x.shape[0])
        loss, grads = jax.value_and_grad(_loss, argnums=1)(graphdef, params, x[idx], y[idx])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(train_step, (params, opt_state), keys)
    return params, opt_state, losses.mean()


SCAN_PIECES = (256, 16, 1)   # the scan lengths an uneven schedule is run in


def _train_span(graphdef, optimizer, params, opt_state, x, y, keys, *, batch_size, pieces):
    """:func:`train_steps` over ``keys``; with ``pieces``, in scans of the lengths of
    :data:`SCAN_PIECES` only, so that a schedule of many different chunk sizes compiles
    three programs, not one a size (each step is the same computation either way)."""
    if not pieces:
        return train_steps(graphdef, optimizer, params, opt_state, x, y, keys,
                           batch_size=batch_size)
    done, total = 0, 0.0
    for length in SCAN_PIECES:
        while len(keys) - done >= length:
            params, opt_state, loss = train_steps(graphdef, optimizer, params, opt_state, x, y,
                                                  keys[done:done + length],
                                                  batch_size=batch_size)
            total, done = total + loss * length, done + length
    return params, opt_state, total / len(keys)


def chunk_sizes(steps: int, chunks) -> list[int]:
    """The steps of each chunk: ``chunks`` (an int) even chunks, or the gaps between the
    increasing steps of the sequence ``chunks``, which must end at ``steps``."""
    if isinstance(chunks, int):
        chunks = max(1, min(chunks, steps))
        return [steps // chunks + (i < steps % chunks) for i in range(chunks)]
    at = [int(s) for s in chunks]
    if not at or at[-1] != steps or any(b <= a for a, b in zip([0, *at], at)):
        raise ValueError(f"snapshot steps must increase from 1 and end at {steps}, got {at}")
    return [b - a for a, b in zip([0, *at], at)]


def snapshot_steps(steps: int, snapshots: int) -> tuple[int, ...]:
    """``snapshots`` training steps spaced evenly on a log scale from 1 to ``steps``, so
    that the first steps, where the boundaries move most, are seen.

    Example:
        >>> snapshot_steps(2000, 10)
        (1, 2, 5, 13, 29, 68, 159, 369, 860, 2000)
    """
    grid = np.geomspace(1, steps, max(1, min(snapshots, steps)))
    out: list[int] = []
    for i, g in enumerate(grid):
        # never fewer than the steps left need, never behind the step before
        at = max(int(round(g)), out[-1] + 1 if out else 1)
        out.append(min(at, steps - (len(grid) - 1 - i)))
    return tuple(out)


def train_chunk(graphdef, optimizer, params, opt_state, x, y, key, *, steps, batch_size):
    """Runs ``steps`` Adam steps on random mini-batches drawn from ``key`` (split into one
    key a step, :func:`train_steps`).

    Returns:
      ``(params, opt_state, mean_loss)``.
    """
    return train_steps(graphdef, optimizer, params, opt_state, x, y,
                       jax.random.split(key, steps), batch_size=batch_size)


def step_keys(key: jax.Array, steps: int) -> jax.Array:
    """One key per optimisation step (``key[steps]``), the same however often training
    stops to report: ``key`` is split into :data:`KEY_CHUNKS` chunk keys (fewer for
    fewer steps), each into one key per step of its chunk."""
    n = max(1, min(KEY_CHUNKS, steps))
    sizes = [steps // n + (i < steps % n) for i in range(n)]
    return jnp.concatenate([jax.random.split(k, size)
                            for k, size in zip(jax.random.split(key, n), sizes)])


def _diverged(loss: float, step: int, x, learning_rate: float) -> TrainingDiverged:
    """The one-line error of a diverged run, naming both likely causes with their values.

    Args:
      loss: the non-finite loss.
      step: the step it was seen at.
      x: the training points (their largest coordinate is the data's scale).
      learning_rate: the configuration's.

    Returns:
      The :class:`TrainingDiverged` to raise.
    """
    scale = float(np.nanmax(np.abs(np.asarray(x, np.float64)), initial=0.0))
    return TrainingDiverged(
        f"training diverged (loss {loss}) at step {step}: the likely cause is the scale of the "
        f"data (largest coordinate {scale:.3g}; the plane's points lie within 1) or the learning "
        f"rate (now {learning_rate}): rescale the data, lower the learning rate or change the model")


@functools.cache
def _optimizer(learning_rate: float, steps: int, weight_decay: float = 0.0) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
    if weight_decay > 0:
        return optax.adamw(schedule, weight_decay=weight_decay)
    return optax.adam(schedule)


@jax.jit
def _accuracy(logits_fn, x, y):
    return (logits_fn(x).argmax(-1) == y).mean()


def _check_config(config: TrainConfig) -> None:
    """Refuses a configuration that cannot train, before any data or model is built.

    Args:
      config: the settings :func:`train` was given.

    Raises:
      ValueError: naming the bad setting and its value.
    """
    if config.steps < 1:
        raise ValueError(f"training steps must be at least 1, got {config.steps}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning rate must be positive, got {config.learning_rate}")
    if config.batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {config.batch_size}")
    if not 0 <= config.weight_decay < 1:
        raise ValueError(f"weight decay must be in [0, 1), got {config.weight_decay}")


def train(task: Task, config: TrainConfig = TrainConfig(), *,
          progress: Callable[[float, float], None] | None = None, chunks: int = 10,
          on_snapshot: Callable[[Snapshot], None] | None = None) -> Trained:
    """Trains an MLP on ``task``, deterministically from ``config.seed``.

    Args:
      task: the task to fit.
      config: model and optimiser settings.
      progress: called after each chunk with ``(fraction_done, loss)``.
      chunks: number of progress reports (the steps are split evenly), or the steps
        to report at (increasing, the last ``config.steps``: :func:`snapshot_steps`); the
        trained model does not depend on it (:func:`step_keys`).
      on_snapshot: called after each chunk with the :class:`Snapshot` of the model
        then (its parameters are a new pytree each time, so keeping them is free of
        copies); the snapshots of a run are its training timeline. A true return value
        stops training there (a stop condition): the result is the model at that step.

    Returns:
      A :class:`Trained` whose ``logits_fn`` is a pytree classifier.

    Raises:
      TrainingDiverged: if the loss becomes NaN or infinite.
      ValueError: for a bad configuration.
    """
    _check_config(config)
    key = jax.random.key(config.seed)
    k_data, k_init, k_train, k_eval = jax.random.split(key, 4)
    x, y = (jnp.asarray(a) for a in training_set(task, k_data))
    model = create_model(num_classes=task.num_classes, width=config.width, depth=config.depth,
                         activation=config.activation, rngs=nnx.Rngs(params=k_init))
    graphdef, params = nnx.split(model)
    optimizer = _optimizer(config.learning_rate, config.steps, config.weight_decay)
    opt_state = optimizer.init(params)
    sizes = chunk_sizes(config.steps, chunks)
    keys = step_keys(k_train, config.steps)
    history = {"step": [], "loss": [], "accuracy": []}
    done = 0
    for size in sizes:
        params, opt_state, loss = _train_span(graphdef, optimizer, params, opt_state, x, y,
                                              keys[done:done + size],
                                              batch_size=min(config.batch_size, len(x)),
                                              pieces=not isinstance(chunks, int))
        loss = float(loss)
        if not np.isfinite(loss):
            raise _diverged(loss, done + size, x, config.learning_rate)
        done += size
        logits_fn = jax.tree_util.Partial(apply_state, graphdef, params)
        accuracy = float(_accuracy(logits_fn, x, y))
        history["step"].append(done)
        history["loss"].append(loss)
        history["accuracy"].append(accuracy)
        if on_snapshot is not None and on_snapshot(Snapshot(done, loss, accuracy, logits_fn)):
            break                                   # the caller's stop condition holds
        if progress is not None:
            progress(done / config.steps, loss)
    xe, ye = task.sample(k_eval, 2000)
    return Trained(logits_fn, float(_accuracy(logits_fn, xe, ye)), history, config)
