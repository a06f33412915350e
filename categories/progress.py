"""The stages of a measurement (training, scanning, attacking, certifying, ...), reported
to an optional callback, so a command line can show what it is doing.

Example:
    >>> seen = []
    >>> announce(lambda stage, done: seen.append((stage, done)), "scanning")
    >>> seen
    [('scanning', 0.0)]
    >>> announce(None, "scanning")  # no callback: nothing happens
"""

from __future__ import annotations

from typing import Callable

from toymodels import Setting, make_setting

Progress = Callable[[str, float], None]   # (stage, fraction of the stage done in [0, 1])


def announce(progress: Progress | None, stage: str, done: float = 0.0) -> None:
    """Tells ``progress`` (if any) that ``stage`` is ``done`` (a fraction) complete."""
    if progress is not None:
        progress(stage, float(done))


def trained_setting(task, *, seed: int, n_points: int, progress: Progress | None = None,
                    **kwargs) -> Setting:
    """:func:`toymodels.make_setting`, reporting the training as the stage ``"training"``
    (a model reused from the cache reports only its start)."""
    announce(progress, "training")
    on_step = None if progress is None else (lambda done, loss: progress("training", float(done)))
    return make_setting(task, seed=seed, n_points=n_points, progress=on_step, **kwargs)
