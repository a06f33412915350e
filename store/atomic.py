"""Atomic writes: a temporary file beside the target, flushed, then ``os.replace``.

``os.replace`` is atomic on POSIX: a reader (or a run resumed after ``kill -9``) sees
either the old complete file or the new complete file. The temporary file is named
``.<target name>.<random>.tmp`` in the target's folder and removed on any failure, so a
write touches no file but its own target.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sub", "note.json")
    >>> write_json(path, {"a": 1})
    >>> open(path).read()
    '{\\n  "a": 1\\n}\\n'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, mode: int | None = None):
    """Opens a temporary binary file beside ``path``; on success it replaces ``path``.

    The target's folder is created if missing.

    Args:
      path: the file to write.
      mode: its permission bits (default: ``0o666`` less the umask, as ``open`` gives).

    Yields:
      A binary file object open for writing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, (0o666 & ~_UMASK) if mode is None else mode)  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
    """Atomically writes ``data`` to ``path`` (see :func:`atomic_file`)."""
    with atomic_file(path, mode=mode) as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically writes ``text`` (UTF-8) to ``path``."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Atomically writes ``obj`` as JSON (followed by a newline) to ``path``."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")
