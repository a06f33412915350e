"""``.npz`` files with an optional JSON ``meta`` entry, written atomically, read without pickle.

Example:
    >>> import numpy as np
    >>> data = npz_bytes({"w": np.ones(2, np.float32)})
    >>> data[:2]
    b'PK'
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from store.atomic import write_bytes

META = "__meta__"  # the entry holding the JSON meta dict, as a 0-d string array


def npz_bytes(arrays: dict, meta: dict | None = None) -> bytes:
    """The ``.npz`` file of ``arrays`` (and ``meta`` as JSON under :data:`META`), as bytes."""
    buffer = io.BytesIO()
    extra = {} if meta is None else {META: np.array(json.dumps(meta, sort_keys=True))}
    np.savez(buffer, **extra, **arrays)
    return buffer.getvalue()


def save_npz(path: str | os.PathLike, arrays: dict, meta: dict | None = None) -> None:
    """Atomically writes ``arrays`` (plus a JSON ``meta`` dict, if given) to ``path``."""
    write_bytes(path, npz_bytes(arrays, meta))


def load_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Reads a file written by :func:`save_npz`: ``(arrays, meta)`` (``meta`` is ``{}``
    when the file has none). Never unpickles.

    Raises:
      OSError, ValueError, zipfile.BadZipFile: the file is unreadable or not an ``.npz``.
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != META}
        meta = json.loads(str(data[META])) if META in data.files else {}
    return arrays, meta
