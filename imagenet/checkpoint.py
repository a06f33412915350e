"""A run's state (:class:`RunState`) and its checkpoint: saved atomically, resumed only by the same run.

The checkpoint is ``<out>/checkpoint.npz``, written by :func:`store.save_npz`:
the arrays ``v``, ``best_v`` and the order key's data, and under ``__meta__`` the
JSON of the counters, the ``--model`` it was computed with and a :func:`fingerprint`
of what determines the perturbation. :func:`open_state` starts a run fresh or resumes it, refusing a
checkpoint of a run with other settings.

A checkpoint is verified whenever it is read (:func:`read_checkpoint`: the zip's
CRCs, the expected entries, their shapes, every counter's type and range, the
counters' agreement with each other, and the digest written with them;
:func:`check_bounds`: positions and counts within the run's data and pass); a
damaged one is reported as "checkpoint ... is damaged: ..., start again without
--resume or restore it" and left as it is. The digest (SHA-256 of the meta and the
arrays) catches a value edited by hand that the range checks cannot tell from the
true one (a rate of 0.5 for 0.25); a checkpoint written before it existed has none
and gets the range checks alone. A new checkpoint is written beside the old one
(``checkpoint.npz.<pid>-<8 hex>.new``, a name of this write's own, so that two
writers never share one), read back and verified, and only then renamed over it, so
the previous good checkpoint is kept until the new one is known to be good.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import zipfile
import zlib
from pathlib import Path

import jax
import numpy as np

from imagenet import data
from imagenet.checkpoint_meta import (META_FIELDS, PENDING_FIELDS, Bounds, check_bounds, check_ranges,
                                      check_types, meta_digest)
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import Splits
from store import content_digest, load_npz, npz_bytes, write_bytes

CHECKPOINT = "checkpoint.npz"
# the next checkpoint, verified before it replaces CHECKPOINT: checkpoint.npz.<pid>-<8 hex>.new
# (checkpoint.npz.new before names were per write)
_STAGED = re.escape(CHECKPOINT) + r"(?:\.\d+-[0-9a-f]{8})?\.new"
# the files a run writes (store's temporaries are named .<file>.<8 random characters>.tmp)
OWN_FILES = (CHECKPOINT, "metrics.json", "perturbation.npy", "perturbation.png")
_OWN = "|".join([re.escape(f) for f in OWN_FILES] + [_STAGED])
_OWN_LEFTOVER = re.compile(rf"^(?:{_STAGED}|\.(?:{_OWN})\.[A-Za-z0-9_]{{8}}\.tmp)$")
_ENTRIES = {"__meta__.npy", "v.npy", "best_v.npy", "key.npy"}


@dataclasses.dataclass(frozen=True)
class RunState:
    """Where a run is; everything a checkpoint holds.

    Frozen: a pass returns the next state (``dataclasses.replace``), so a state already
    written to a checkpoint is never changed after it.
    """

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
    # Algorithm 1's images waiting for a full batch (imagenet.steps.Pending): item indices, clean labels
    pending_items: list[int] = dataclasses.field(default_factory=list)
    pending_labels: list[int] = dataclasses.field(default_factory=list)


def fingerprint(model: str, resolution: int, config: RunConfig, splits: Splits) -> str:
    """A hash of what determines the perturbation; a checkpoint only resumes a matching run.

    ``passes`` and ``target`` only say when to stop, so they may change on resume. A
    ``chunk`` of one update per batch is left out: a checkpoint written before ``--chunk``
    has the fingerprint of ``--chunk`` = ``--batch``.
    """
    items = [list(i) for i in splits.train] + ["|"] + [list(i) for i in splits.val]
    config = config.validated()
    settings = dataclasses.asdict(dataclasses.replace(config, passes=1, target=1.0))
    if settings["chunk"] == config.batch:
        del settings["chunk"]  # one update per batch: the fingerprint of a run from before --chunk
    return content_digest(json.dumps([model, resolution, settings, items], sort_keys=True))


class CheckpointDamaged(ArgumentError):
    """A checkpoint that cannot be read back as the run's state (one line, exit code 2)."""


def _damaged(path: Path, why: str) -> CheckpointDamaged:
    return CheckpointDamaged(f"checkpoint {path} is damaged: {why}, start again without --resume or restore it "
                             "(the file was left as it is)")


def read_checkpoint(path: str | os.PathLike, resolution: int | None = None,
                    key_shape: tuple[int, ...] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and meta of a checkpoint, verified: the zip's CRCs, its entries, shapes and counters.

    Args:
      path: the checkpoint file.
      resolution: the model's input side (``v`` and ``best_v`` must be f32[res, res, 3]); None: any square.
      key_shape: the shape of the order key's data; None: any.

    Returns:
      ``(arrays, meta)``: ``v``, ``best_v``, ``key``; the counters, fingerprint and model.

    Raises:
      CheckpointDamaged: anything wrong with the file (it is never changed here).
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise _damaged(path, "the file is empty")
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if not _ENTRIES <= names:
                raise _damaged(path, f"the entries {', '.join(sorted(_ENTRIES - names))} are missing")
            bad = zf.testzip()  # reads every entry, checking its CRC-32
            if bad is not None:
                raise _damaged(path, f"{bad} fails its CRC-32 check")
        arrays, meta = load_npz(path)
    except CheckpointDamaged:
        raise
    except zipfile.BadZipFile as err:
        raise _damaged(path, f"not a complete .npz (zip) file ({err})") from None
    except (OSError, ValueError, KeyError, EOFError, zlib.error, NotImplementedError, RuntimeError,
            UnicodeDecodeError, OverflowError, MemoryError) as err:
        raise _damaged(path, f"{type(err).__name__}: {' '.join(str(err).split())[:160]}") from None
    for name in ("v", "best_v"):
        a = arrays[name]
        square = a.ndim == 3 and a.shape[0] == a.shape[1] and a.shape[2] == 3
        if a.dtype != np.float32 or not square or (resolution is not None and a.shape[0] != resolution) \
                or not np.all(np.isfinite(a)):
            raise _damaged(path, f"{name} is {a.dtype}{list(a.shape)}, expected finite float32"
                           f"[{resolution or 'res'}, {resolution or 'res'}, 3]")
    if key_shape is not None and arrays["key"].shape != tuple(key_shape):
        raise _damaged(path, f"the order key has shape {arrays['key'].shape}, expected {tuple(key_shape)}")
    why = check_types(meta, len(data.SKIP_REASONS) + 1) or check_ranges(meta)
    if why is None and "digest" in meta and meta["digest"] != meta_digest(meta, arrays):
        why = "its contents do not match the digest written with them (edited after the run wrote it?)"
    if why is not None:
        raise _damaged(path, why)
    return arrays, meta


def save_checkpoint(path: Path, state: RunState, key_data: np.ndarray, tag: str,
                    model_spec: str | None = None) -> None:
    """Write ``state`` beside the checkpoint, verify it, then rename it over the old one (process 0 only).

    ``model_spec`` (the ``--model`` it was computed with) is recorded so that a resume with
    another model is refused by name.
    """
    if jax.process_index() != 0:
        return
    meta = {k: getattr(state, k) for k in META_FIELDS + PENDING_FIELDS}
    meta["fingerprint"] = tag
    if model_spec is not None:
        meta["model_spec"] = model_spec
    arrays = {"v": state.v, "best_v": state.best_v, "key": key_data}
    meta["digest"] = meta_digest(json.loads(json.dumps(meta)), arrays)  # the digest of what a read sees
    staged = path.with_name(f"{CHECKPOINT}.{os.getpid()}-{secrets.token_hex(4)}.new")
    try:
        write_bytes(staged, npz_bytes(arrays, meta))
        read_checkpoint(staged, state.v.shape[0], key_data.shape)
        os.replace(staged, path)
    except CheckpointDamaged as err:
        raise OSError(f"the new checkpoint did not read back intact, {path} kept as it was: {err}") from None
    finally:
        staged.unlink(missing_ok=True)  # gone after the rename; left by a failed write otherwise


def check_model(path: Path, meta: dict, model_spec: str | None) -> None:
    """Refuse a checkpoint recorded with another ``--model`` than ``model_spec`` (None, or none recorded: no check)."""
    recorded = meta.get("model_spec")
    if model_spec is not None and recorded is not None and recorded != model_spec:
        # the recorded spec is whatever the file says: written as typed only when it is
        # one printable word, so the error stays one line
        plain = str(recorded).isprintable() and len(str(recorded).split()) == 1
        again = f"--model {recorded}" if plain else "that --model"
        raise ArgumentError(f"{path} is a checkpoint of the model {recorded!r}, not {model_spec!r}; "
                            f"resume with {again} or choose another --out")


def load_checkpoint(path: Path, key_data: np.ndarray, tag: str, resolution: int | None = None,
                    model_spec: str | None = None, bounds: Bounds | None = None) -> RunState:
    """Read and verify a checkpoint: the state a run resumes from.

    Args:
      path: the checkpoint; key_data: the run's order key; tag: its :func:`fingerprint`.
      resolution, model_spec: as :func:`read_checkpoint` and :func:`check_model`.
      bounds: the run's data and batches (None: not checked).

    Returns:
      The :class:`RunState`.

    Raises:
      ArgumentError: the checkpoint is damaged (:class:`CheckpointDamaged`) or belongs to another run.
    """
    arrays, meta = read_checkpoint(path, resolution, key_data.shape)
    check_model(path, meta, model_spec)
    if meta.get("fingerprint") != tag or not np.array_equal(arrays.get("key"), key_data):
        raise ArgumentError(f"{path} is a checkpoint of a run with other settings (model, data, seed or "
                            "attack options); use the same options or another --out")
    why = None if bounds is None else check_bounds(meta, bounds)
    if why is not None:
        raise _damaged(path, why)
    fields = {k: meta[k] for k in META_FIELDS}
    fields.update({k: meta[k] for k in PENDING_FIELDS if k in meta})
    return RunState(v=arrays["v"], best_v=arrays["best_v"], **fields)


def remove_own_temporaries(out: Path) -> None:
    """Delete what a run cut short by a kill left of its own writes in ``out`` (process 0 only).

    Only the run's own names: staged checkpoints (``checkpoint.npz.<pid>-<8 hex>.new``)
    and store's temporaries of the run's files (``.checkpoint.npz.<8 characters>.tmp``
    ...); any other file, a user's ``.draft.tmp`` included, is left alone. Called under
    the folder's lock (:mod:`imagenet.runlock`), so no other run is writing them.
    """
    if jax.process_index() != 0:
        return
    for entry in os.scandir(out):
        if _OWN_LEFTOVER.match(entry.name) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)


def check_out_folder(out: Path, resume: bool, model_spec: str | None = None) -> None:
    """Before any work: refuse an existing run without ``resume``, and with it a damaged
    checkpoint or one of another model than ``model_spec``.

    Raises:
      ArgumentError: as :func:`open_state` would, later.
    """
    ckpt = out / CHECKPOINT
    if not resume and os.path.lexists(ckpt):
        raise ArgumentError(f"{out} already holds a run ({CHECKPOINT}); add --resume to continue it "
                            "or choose another --out")
    if resume and os.path.lexists(ckpt):
        check_model(ckpt, read_checkpoint(ckpt)[1], model_spec)


def open_state(out: Path, config: RunConfig, resolution: int, key_data: np.ndarray, tag: str, *,
               resume: bool, model_spec: str | None = None, bounds: Bounds | None = None) -> RunState:
    """The state a run in ``out`` starts from: fresh, or the checkpoint's when ``resume``.

    A resumed run that had finished goes on if ``config`` asks for more passes (or a
    higher target), and one resumed with fewer passes than it has made ends with the
    best of the finished passes.

    Raises:
      ArgumentError: a checkpoint exists and ``resume`` is False, or it belongs to another
        run, or it is damaged (its positions outside ``bounds`` included).
    """
    ckpt = out / CHECKPOINT
    check_out_folder(out, resume, model_spec)
    if not os.path.lexists(ckpt):
        zeros = np.zeros((resolution, resolution, 3), np.float32)
        return RunState(v=zeros, best_v=zeros)
    state = load_checkpoint(ckpt, key_data, tag, resolution, model_spec, bounds)
    finished = state.pass_index >= config.passes or (state.history and state.best_rate >= config.target)
    if state.phase == "done" and not finished:
        # resumed with more --passes (or a higher --target): go on
        return dataclasses.replace(state, phase="train")
    if state.phase == "train" and state.pass_index >= config.passes:
        # resumed with fewer --passes: keep the best of the finished passes
        return dataclasses.replace(state, phase="done")
    return state
