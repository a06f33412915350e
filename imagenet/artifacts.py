"""Atomic files: checkpoints, metrics, the perturbation as .npy and as a picture.

Every write goes to a temporary file in the target's folder, is flushed to disk
(``fsync``) and then renamed over the target with ``os.replace``, which is
atomic on POSIX: a reader (or a resumed run after ``kill -9``) sees either the
old complete file or the new complete file, never a half-written one.
Nothing here pickles: checkpoints are ``.npz`` read with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike):
    """Open a temporary binary file beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_file(path) as f:
        f.write(data)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Atomically write arrays plus a JSON ``meta`` dict (stored as a string array)."""
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    write_bytes(path, buffer.getvalue())


def load_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_npz`: (arrays, meta)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "__meta__"}
        meta = json.loads(str(data["__meta__"]))
    return arrays, meta


def save_json(path: str | os.PathLike, obj) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write one array as .npy."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def load_perturbation(path: str | os.PathLike) -> np.ndarray:
    """A saved perturbation: f32[h, w, 3] from .npy (or the ``v`` of a checkpoint .npz).

    Raises:
      ValueError: missing file, or not an image-shaped float array.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"perturbation file {path} does not exist")
    try:
        if path.suffix == ".npz":
            arrays, _ = load_npz(path)
            v = arrays["best_v"] if "best_v" in arrays else arrays["v"]
        else:
            v = np.load(path, allow_pickle=False)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot read a perturbation from {path}: {err}") from None
    if v.ndim != 3 or v.shape[-1] != 3 or not np.issubdtype(v.dtype, np.floating):
        raise ValueError(f"{path} holds an array of shape {v.shape} and dtype {v.dtype}, "
                         "expected a float perturbation of shape (h, w, 3)")
    return v.astype(np.float32)


def visible(v: np.ndarray) -> np.ndarray:
    """A perturbation scaled for viewing: uint8 [h, w, 3], 0 -> 128, the largest |v| -> 0 or 255."""
    v = np.asarray(v, np.float32)
    peak = float(np.max(np.abs(v)))
    scaled = 127.5 + 127.5 * v / peak if peak > 0 else np.full_like(v, 127.5)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Atomically write a uint8 [h, w, 3] image as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
