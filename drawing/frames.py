"""Frames of a training timeline: the plane as an RGB array, drawn without matplotlib.

A timeline plays one frame per snapshot of a training run; each frame is the
snapshot's regions tinted as on the plane (:func:`drawing.plane.plane_rgb`, D in its
true colours), the decision boundaries in black, scaled up by whole pixels. Arrays
only, so a frame costs milliseconds and frames play at the speed the browser shows them.

Example:
    >>> import numpy as np
    >>> regions = np.zeros((40, 40), np.int32); regions[:, 20:] = 1
    >>> frame = frame_rgb(regions, 2, scale=3)
    >>> frame.shape, frame.dtype.name, frame[60, 57].tolist()   # cell 19, on the boundary: black
    ((120, 120, 3), 'uint8', [0, 0, 0])
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import numpy as np

from drawing.plane import plane_rgb
from drawing.planeview import labels_of, region_image
from toymodels import Snapshot, TrainConfig, Trained, snapshot_steps, train

FRAME_RES = 120        # cells a side of a timeline frame (the plane picture uses GRID_RES)
FRAME_PIXELS = 480     # a frame's side in pixels, about


def boundary_cells(regions) -> np.ndarray:
    """``bool[res, res]``: the cells whose right or upper neighbour has another label."""
    regions = np.asarray(regions)
    edge = np.zeros(regions.shape, bool)
    edge[:, :-1] |= regions[:, :-1] != regions[:, 1:]
    edge[:-1, :] |= regions[:-1, :] != regions[1:, :]
    return edge


def frame_rgb(regions, num_classes: int, *, support=None, scale: int = 2) -> np.ndarray:
    """One frame: the plane of ``regions`` as ``u8[res*scale, res*scale, 3]``, y upwards.

    Args:
      regions: ``i32[res, res]`` the snapshot's label per cell (row = y, upwards).
      num_classes: number of classes.
      support: ``i32[res, res]`` D's true class per cell, -1 outside D (tinted darker).
      scale: whole pixels per cell.
    """
    img = plane_rgb(regions, num_classes, support=support)
    img[boundary_cells(regions)] = 0.0
    img = np.flipud(img)
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class Recording(NamedTuple):
    """A training run recorded for a timeline."""

    trained: Trained        # the model at the end (the same as training without recording)
    snapshots: tuple        # (toymodels.Snapshot,) * S, in training order
    frames: tuple           # (u8[h, w, 3],) * S, one frame a snapshot
    held_out: tuple         # (float,) * S accuracy on a fresh sample of D at each snapshot
    stopped: bool           # the stop condition ended training before its last step


HELD_OUT = 1000         # points of the fresh sample of D a recording measures accuracy on


DEFAULT_SNAPSHOTS = 20  # the /train page's default number of snapshots (10, 20 or 40)


def record_training(task, config: TrainConfig, snapshots: int, *, support=None,
                    show: Callable[[Snapshot, np.ndarray, dict], None] | None = None,
                    stop_at: float | None = None) -> Recording:
    """Trains ``config`` on ``task``, stopping ``snapshots`` times to record the model and
    draw its frame.

    Args:
      task: a :class:`toymodels.Task`; config: its training configuration.
      snapshots: how many snapshots to record, at steps spaced on a log scale
        (:func:`toymodels.snapshot_steps`): the first steps move the boundaries most.
      support: ``i32[FRAME_RES, FRAME_RES]`` D's true class per cell of the frames'
        grid (:attr:`drawing.SupportMap.label` of ``support_map(task, FRAME_RES)``), or None.
      show: called after each snapshot with ``(snapshot, frame, history)``; history holds
        the lists ``step``, ``loss``, ``accuracy`` (on the training set) and ``held_out``
        (on a fresh sample of D, drawn from ``fold_in(key(config.seed), 1)``) so far.
      stop_at: stop training once the accuracy on the fresh sample of D reaches it.

    Returns:
      A :class:`Recording`.
    """
    snaps, frames = [], []
    history = {"step": [], "loss": [], "accuracy": [], "held_out": []}
    xt, yt = task.sample(jax.random.fold_in(jax.random.key(config.seed), 1), HELD_OUT)
    xt, yt = np.asarray(xt, np.float32), np.asarray(yt)
    if support is not None and np.shape(support) != (FRAME_RES, FRAME_RES):
        raise ValueError(f"support must be {FRAME_RES} x {FRAME_RES} cells, got {np.shape(support)}")
    scale = max(1, FRAME_PIXELS // FRAME_RES)

    def record(snap: Snapshot) -> None:
        regions = region_image(snap.logits_fn, task.bounds, FRAME_RES)
        frame = frame_rgb(regions, task.num_classes, support=support, scale=scale)
        snaps.append(snap)
        frames.append(frame)
        for k in ("step", "loss", "accuracy"):
            history[k].append(getattr(snap, k))
        held_out = float((labels_of(snap.logits_fn, xt) == yt).mean())
        history["held_out"].append(held_out)
        if show is not None:
            show(snap, frame, history)
        return stop_at is not None and held_out >= stop_at

    trained = train(task, config, chunks=snapshot_steps(config.steps, snapshots),
                    on_snapshot=record)
    stopped = snaps[-1].step < config.steps
    return Recording(trained, tuple(snaps), tuple(frames), tuple(history["held_out"]), stopped)


__all__ = ["FRAME_RES", "Recording", "boundary_cells", "frame_rgb", "record_training"]
