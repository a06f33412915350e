"""The four fractions over training: where in its training a model falls into its category.

A training run's snapshots (:class:`toymodels.Snapshot`, one per chunk of steps) are
measured at one eps with the exact 2D search (:func:`categories.exact_fractions`), so a
timeline shows the fractions, the verdict and the loss step by step.

Example:
    >>> import jax, numpy as np
    >>> from toymodels import TrainConfig, get_task, train
    >>> task, snaps = get_task("margins"), []
    >>> _ = train(task, TrainConfig(steps=100, width=16), chunks=2, on_snapshot=snaps.append)
    >>> x, y = task.sample(jax.random.key(0), 200)
    >>> t = fractions_over_training(snaps, x, y, norm="2", eps=0.15)
    >>> t.steps.tolist(), len(t.verdicts)
    ([50, 100], 2)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np

from categories.exact2d import exact_fractions
from categories.report import KEYS
from categories.verdict import DEFAULT_TAU, NAMES, accuracy_caveat, verdict


class Timeline(NamedTuple):
    """The four fractions of every snapshot of a training run, at one eps."""

    steps: np.ndarray        # i32[S]  optimisation steps done at each snapshot
    loss: np.ndarray         # f32[S]  mean training loss over the chunk before it
    accuracy: np.ndarray     # f32[S]  training-set accuracy
    fractions: dict          # {fraction: f64[S]} exact at eps
    verdicts: tuple          # (int,) * S: the category at tau
    eps: float
    tau: float
    clean_accuracy: np.ndarray | None = None  # f64[S] on the sample of D: the points counted


def fractions_over_training(snapshots: Sequence, x, y, *, norm, eps: float,
                            tau: float = DEFAULT_TAU,
                            progress: Callable[[float], None] | None = None) -> Timeline:
    """Measures every snapshot of a training run at one eps.

    Args:
      snapshots: :class:`toymodels.Snapshot` s in training order.
      x: ``f32[n, 2]`` points of D; y: ``i32[n]`` their true labels (only the points
        a snapshot classifies correctly count, as in :func:`categories.exact_at`).
      norm: 2 or inf; eps: the radius; tau: the 'almost all' share of the verdict.
      progress: called with the fraction of snapshots measured.

    Returns:
      A :class:`Timeline`.
    """
    if not snapshots:
        raise ValueError("no snapshots: train with on_snapshot to record some")
    values = {k: [] for k in KEYS}
    clean = []
    for i, snap in enumerate(snapshots):
        f = exact_fractions(snap.logits_fn, x, y, norm=norm, eps=eps)
        for k in KEYS:
            values[k].append(float(np.clip(float(getattr(f, k)), 0.0, 1.0)))
        clean.append(float(f.clean_accuracy))
        if progress is not None:
            progress((i + 1) / len(snapshots))
    fractions = {k: np.asarray(v, np.float64) for k, v in values.items()}
    verdicts = tuple(verdict({k: fractions[k][i] for k in KEYS}, tau) for i in range(len(snapshots)))
    return Timeline(np.asarray([s.step for s in snapshots], np.int32),
                    np.asarray([s.loss for s in snapshots], np.float32),
                    np.asarray([s.accuracy for s in snapshots], np.float32),
                    fractions, verdicts, float(eps), float(tau), np.asarray(clean, np.float64))


def settled_at(timeline: Timeline) -> int | None:
    """The index of the snapshot from which the verdict stays the final one (None if
    the run has no snapshots): the moment the model falls into its category."""
    v = timeline.verdicts
    if not v:
        return None
    i = len(v) - 1
    while i > 0 and v[i - 1] == v[-1]:
        i -= 1
    return i


# why a run can sit in one category from its first snapshot on: the first steps put the
# boundaries where D's geometry keeps them
UNCHANGED_WHY = {
    1: "even the first boundaries lie farther than eps from almost all of D",
    2: "boundaries cut through D from the first steps on (an untrained network's boundaries "
       "pass everywhere), so almost every point has one within eps",
    3: "the first boundaries already run alike along D, so one direction crosses them from "
       "almost every point",
    4: "D already sits in regions narrower than eps, so almost every direction leaves them",
    "1-2": "D stays split between points near a boundary and points far from one: neither "
           "robust nor pointwise reaches tau",
    None: "no fraction reaches tau at any snapshot",
}


def timeline_caption(timeline: Timeline) -> str:
    """One sentence: which category the run ends in and from which step (with the
    caveat of :func:`categories.accuracy_caveat` when the last snapshot is below it)."""
    i = settled_at(timeline)
    final = timeline.verdicts[-1]
    name = NAMES.get(final, "")
    step = int(timeline.steps[i])
    caveat = (None if timeline.clean_accuracy is None
              else accuracy_caveat(timeline.clean_accuracy[-1]))
    where = f", {caveat}" if caveat else ""
    if i == 0:
        return (f"From the first snapshot (step {step}) on, the model is in category {final} "
                f"({name}{where}) at eps = {timeline.eps:g}: no change is seen because "
                f"{UNCHANGED_WHY.get(final, UNCHANGED_WHY[None])}.")
    return (f"The model falls into category {final} ({name}{where}) at step {step} of "
            f"{int(timeline.steps[-1])} and stays there (eps = {timeline.eps:g}, tau = {timeline.tau:g}).")


__all__ = ["Timeline", "fractions_over_training", "settled_at", "timeline_caption"]
