"""One run at a time in an output folder: an exclusive lock on ``--out`` for the whole run.

The lock is :func:`fcntl.flock` on ``<out>/.run.lock``, a file that holds the pid of
the run holding it. The kernel releases a flock when the process that holds it
ends, however it ends (``kill -9`` included), so the lock file a killed run leaves
behind is harmless: the next run takes the lock on it and writes its own pid. A run
that finds the lock held is refused at once, in one line naming the holder's pid
(it does not wait: the holder may run for days). The holder removes the file when
it is done, so a finished run leaves only its outputs.

A run opens the file, locks it, then checks that the path still names the file it
locked: a holder that was just finishing may have removed it in between, and a
lock on a removed file would exclude no one (the run then opens the new file).

Within one process the lock is taken again freely by the thread that holds it (the
command line locks ``--out`` before it checks the folder and loads the model, and
:func:`imagenet.loop.run_universal` locks it for callers of the function), and
refused to any other thread.

Example:
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> with run_lock(out):
    ...     with run_lock(out):  # the same thread: taken again
    ...         pass
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path

import jax

from imagenet.runconfig import ArgumentError

LOCK = ".run.lock"
_ATTEMPTS = 100  # re-opens after a holder removed the file under us; each is a race lost
_held: dict[str, int] = {}  # real path of a locked folder -> the thread holding it, in this process
_guard = threading.Lock()


class FolderBusy(ArgumentError):
    """Another run holds the folder's lock (one line naming its pid, exit code 2)."""


def _busy(out: Path, pid: str) -> FolderBusy:
    return FolderBusy(f"--out {out} is in use by another run (pid {pid or 'unknown'}, holding {out / LOCK}); "
                      "wait for it to end or choose another --out")


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _holder_pid(fd: int, wait_s: float = 1.0) -> str:
    """The pid the holder wrote in the lock file ("" if none came within ``wait_s``).

    The holder writes its pid just after it takes the lock, so a run refused in between
    reads an empty file: it reads again for a moment rather than name no one.
    """
    deadline = time.monotonic() + wait_s
    while True:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if holder or time.monotonic() >= deadline:
            return holder
        time.sleep(0.01)


def _acquire(out: Path) -> int:
    """Lock ``out/LOCK`` and write this process's pid in it; the open descriptor holds the lock.

    Raises:
      FolderBusy: another process holds it.
      ArgumentError: the folder's file system cannot lock.
    """
    path = out / LOCK
    for _ in range(_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise _busy(out, holder) from None
        except OSError as err:
            os.close(fd)
            raise ArgumentError(f"--out {out} cannot be locked against a second run ({err.strerror or err}); "
                                "choose a folder on a local disk") from None
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)  # the file was removed between our open and our lock: open the new one
    raise _busy(out, "")


def _release(out: Path, fd: int) -> None:
    """Remove the lock file (still ours while we hold the lock), then let go of the lock."""
    try:
        if _same_file(fd, out / LOCK):
            os.unlink(out / LOCK)
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(out: str | os.PathLike):
    """Hold the exclusive lock of the folder ``out`` (which must exist) for the block.

    Only process 0 of a multi-host run locks (it alone writes to ``--out``).

    Args:
      out: the output folder.

    Raises:
      FolderBusy: another run, in this process or another, holds it (one line, its pid).
      ArgumentError: the folder cannot be locked.
    """
    out = Path(out)
    key = os.path.realpath(out)
    with _guard:
        owner = _held.get(key)
    if jax.process_index() != 0 or owner == threading.get_ident():
        yield
        return
    if owner is not None:
        raise _busy(out, str(os.getpid()))
    fd = _acquire(out)
    with _guard:
        _held[key] = threading.get_ident()
    try:
        yield
    finally:
        with _guard:
            del _held[key]
        _release(out, fd)
