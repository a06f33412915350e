"""The output folder of a command: created and tested for writing before any work, left clean on failure.

:func:`output_folder` creates the missing folders of ``--out``, writes and removes a
probe file of its own in it, and reports a path that cannot be used (under
``/proc``, an existing file, a path through a file, no permission, a full disk) as
one :class:`~imagenet.runconfig.ArgumentError` line before anything is computed. If
the command then fails, the folders it created are removed again when they are
still empty; nothing else in them, or in a folder it did not create, is touched.

Example:
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp()
    >>> try:
    ...     with output_folder(os.path.join(root, "a", "b")):
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> os.listdir(root)
    []
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from imagenet.runconfig import ArgumentError


def _fail(flag: str, path: Path, doing: str, err: OSError | str) -> ArgumentError:
    why = err if isinstance(err, str) else (err.strerror or str(err))
    return ArgumentError(f"{flag} {path} cannot be {doing}: {why}; choose a folder you can write to")


def prepare_folder(path: str | os.PathLike, flag: str = "--out") -> list[Path]:
    """Create ``path`` (and missing parents) and test that files can be written in it.

    Returns:
      the folders created, outermost first (for :func:`remove_if_empty`).

    Raises:
      ArgumentError: ``path`` is a file, lies under a file, or cannot be created or written.
    """
    path = Path(path)
    if path.is_file():
        raise ArgumentError(f"{flag} {path} is a file, not a folder; choose a folder")
    missing, p = [], path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    if os.path.lexists(p) and not p.is_dir():
        raise _fail(flag, path, "created", f"{p} is a file, not a folder")
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
                created.append(folder)
            except FileExistsError:
                if not folder.is_dir():
                    raise
        fd, probe = tempfile.mkstemp(prefix=".write-test-", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        remove_if_empty(created)
        raise _fail(flag, path, "written to" if path.is_dir() else "created", err) from None
    return created


def remove_if_empty(created: list[Path]) -> None:
    """Remove the folders a command created (innermost first) that are still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): it and its parents stay


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, flag: str = "--out"):
    """:func:`prepare_folder`, and on any failure inside the block the created folders removed if empty."""
    created = prepare_folder(path, flag)
    try:
        yield Path(path)
    except BaseException:
        remove_if_empty(created)
        raise


@contextlib.contextmanager
def output_file(path: str | os.PathLike, flag: str = "--out"):
    """The folder of an output file prepared as :func:`output_folder`; ``path`` must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise ArgumentError(f"{flag} {path} is a folder; name a file (e.g. {path / 'transfer.json'})")
    with output_folder(path.parent, flag):
        yield path
