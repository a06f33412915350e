"""The perturbation's files: as .npy, as a picture scaled for viewing, and read back.

Every write goes through :mod:`store` (a temporary file beside the target, flushed,
then ``os.replace``), so a reader or a resumed run sees the old complete file or
the new one, never a half-written one. Nothing here pickles.

Example:
    >>> import numpy as np
    >>> visible(np.array([[[-2.0, 0.0, 1.0]]], np.float32)).tolist()
    [[[0, 128, 191]]]
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from store import load_npz, write_bytes


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
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"cannot read a perturbation from {path}: {' '.join(str(err).split())[:160]}") from None
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


def save_perturbation(folder: str | os.PathLike, v: np.ndarray) -> None:
    """Atomically write ``perturbation.npy`` (f32[h, w, 3]) and ``perturbation.png`` (:func:`visible`) in ``folder``."""
    v = np.asarray(v, np.float32)
    save_npy(Path(folder) / "perturbation.npy", v)
    save_png(Path(folder) / "perturbation.png", visible(v))
