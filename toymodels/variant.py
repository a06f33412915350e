"""A preset's D with another number of points and spread: TensorFlow Playground's
"number of points" and "noise", for the app's sidebar.

Example:
    >>> from toymodels.datasets import get_task
    >>> task = task_variant(get_task("xor"), points=200, noise=0.05)
    >>> task.name, task.train_points, task.noise
    ('xor-n200-noise0.05', 400, 0.05)
    >>> task_variant(get_task("xor")) is get_task("xor")     # the preset's own values
    True
"""

from __future__ import annotations

import dataclasses
import functools

from toymodels.datasets import DEFAULT_POINTS, Task


@functools.lru_cache(maxsize=64)
def task_variant(task: Task, *, points: int = DEFAULT_POINTS, noise: float = 0.0) -> Task:
    """``task`` with another number of points and spread of D (TensorFlow Playground's
    "number of points" and "noise").

    Args:
      task: a preset or classic task (data-defined tasks are returned unchanged).
      points: the size of the sample of D one measures; the model trains on
        ``2 * points`` points of D (besides the plane points the presets label with
        their intended classifier), as the presets do with their own 1000.
      noise: every point of D moved by Gaussian noise of this standard deviation (in
        plane units; labels kept, so points may cross into another class's region).

    Returns:
      ``task`` itself at the preset's own values (1000 points, no noise); else a task
      named for them (``pancakes-n500-noise0.05``), so cached models never mix.
    """
    if task.points is not None or (points == DEFAULT_POINTS and noise == 0):
        return task
    if points < 1 or not 0 <= noise < 1:
        raise ValueError(f"points must be at least 1 and noise in [0, 1), got {points}, {noise}")
    name = task.name + (f"-n{points}" if points != DEFAULT_POINTS else "") + (
        f"-noise{noise:g}" if noise else "")
    spread = f" Noise {noise:g} on every point." if noise else ""
    return dataclasses.replace(task, name=name, noise=float(noise), train_points=2 * points,
                               description=task.description + spread)
