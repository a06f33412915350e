"""A run's state (:class:`RunState`) and its checkpoint: saved atomically, resumed only by the same run.

The checkpoint is ``<out>/checkpoint.npz``, written by :func:`store.save_npz`:
the arrays ``v``, ``best_v`` and the order key's data, and under ``__meta__`` the
JSON of the counters and a :func:`fingerprint` of what determines the
perturbation. :func:`open_state` starts a run fresh or resumes it, refusing a
checkpoint of a run with other settings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from imagenet import data
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import Splits
from store import content_digest, load_npz, save_npz

CHECKPOINT = "checkpoint.npz"
# the RunState fields kept in the checkpoint's JSON meta (the arrays are v and best_v)
META_FIELDS = ("best_rate", "best_hist", "history", "pass_index", "batch_index", "phase", "skipped",
               "images_used", "correct", "labelled", "attack_images", "attack_seconds")


@dataclasses.dataclass
class RunState:
    """Where a run is; everything a checkpoint holds."""

    v: np.ndarray
    best_v: np.ndarray
    best_rate: float = 0.0
    best_hist: list[int] = dataclasses.field(default_factory=list)
    history: list[float] = dataclasses.field(default_factory=list)
    pass_index: int = 0
    batch_index: int = 0
    phase: str = "train"  # train -> evaluate -> train ... -> done
    skipped: list[int] = dataclasses.field(default_factory=lambda: [0] * (len(data.SKIP_REASONS) + 1))
    images_used: int = 0
    correct: int = 0
    labelled: int = 0
    attack_images: int = 0
    attack_seconds: float = 0.0


def fingerprint(model: str, resolution: int, config: RunConfig, splits: Splits) -> str:
    """A hash of what determines the perturbation; a checkpoint only resumes a matching run.

    ``passes`` and ``target`` only say when to stop, so they may change on resume.
    """
    items = [list(i) for i in splits.train] + ["|"] + [list(i) for i in splits.val]
    settings = dataclasses.asdict(dataclasses.replace(config, passes=1, target=1.0))
    return content_digest(json.dumps([model, resolution, settings, items], sort_keys=True))


def save_checkpoint(path: Path, state: RunState, key_data: np.ndarray, tag: str) -> None:
    """Atomically write ``state`` (process 0 only)."""
    if jax.process_index() != 0:
        return
    meta = {k: getattr(state, k) for k in META_FIELDS}
    meta["fingerprint"] = tag
    save_npz(path, {"v": state.v, "best_v": state.best_v, "key": key_data}, meta)


def load_checkpoint(path: Path, key_data: np.ndarray, tag: str) -> RunState:
    """Read a checkpoint; raises ArgumentError if it belongs to a different run."""
    try:
        arrays, meta = load_npz(path)
    except (OSError, ValueError, KeyError) as err:
        raise ArgumentError(f"cannot read checkpoint {path}: {err}") from None
    if meta.get("fingerprint") != tag or not np.array_equal(arrays.get("key"), key_data):
        raise ArgumentError(f"{path} is a checkpoint of a run with other settings (model, data, seed or "
                            "attack options); use the same options or another --out")
    fields = {k: meta[k] for k in meta if k != "fingerprint"}
    return RunState(v=arrays["v"], best_v=arrays["best_v"], **fields)


def remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files a write cut short by a kill left in ``out`` (process 0 only)."""
    for stale in out.glob(".*.tmp") if jax.process_index() == 0 else ():
        stale.unlink(missing_ok=True)


def open_state(out: Path, config: RunConfig, resolution: int, key_data: np.ndarray, tag: str, *,
               resume: bool) -> RunState:
    """The state a run in ``out`` starts from: fresh, or the checkpoint's when ``resume``.

    A resumed run that had finished goes on if ``config`` asks for more passes (or a
    higher target), and one resumed with fewer passes than it has made ends with the
    best of the finished passes.

    Raises:
      ArgumentError: a checkpoint exists and ``resume`` is False, or it belongs to another run.
    """
    ckpt = out / CHECKPOINT
    if ckpt.exists() and not resume:
        raise ArgumentError(f"{out} already holds a run ({CHECKPOINT}); add --resume to continue it "
                            "or choose another --out")
    if not ckpt.exists():
        zeros = np.zeros((resolution, resolution, 3), np.float32)
        return RunState(v=zeros, best_v=zeros)
    state = load_checkpoint(ckpt, key_data, tag)
    finished = state.pass_index >= config.passes or (state.history and state.best_rate >= config.target)
    if state.phase == "done" and not finished:
        state.phase = "train"  # resumed with more --passes (or a higher --target): go on
    elif state.phase == "train" and state.pass_index >= config.passes:
        state.phase = "done"  # resumed with fewer --passes: keep the best of the finished passes
    return state
