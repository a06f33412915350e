"""Any 2D data set from a CSV of ``x,y,label`` rows, checked row by row.

Coordinates are rescaled (one factor for both axes, so that balls stay balls) into
the plane ``[-1, 1]^2`` where the models and the eps of the presets live; labels may
be whole numbers (compared as numbers: ``1`` and ``1.0`` are one class) or names and
are numbered in sorted order. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped.

Example:
    >>> import io
    >>> task = load_csv(io.StringIO("x,y,label\\n0,0,a\\n1,1,b\\n0,1,a\\n"), name="demo")
    >>> task.num_classes, task.points[0].shape
    (2, (3, 2))
"""

from __future__ import annotations

import csv
import io
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.datasets import PLANE, Task

MAX_ROWS = 20_000
MAX_ROWS_LIMIT = 1_000_000  # the most --max-rows may allow: 1e6 rows stay well under 100 MB here
# The largest coordinate taken: its square (1e36) stays inside float32 (3.4e38), so a model
# of the user's that squares its inputs and the rescale's hi - lo and lo + hi all stay finite.
MAX_COORD = 1e18
CLI_ROW_ADVICE = (f"the limit set by --max-rows (at most {MAX_ROWS_LIMIT}); raise --max-rows "
                  "or use fewer rows")


class DataError(ValueError):
    """A CSV that cannot be used; the message names the problem and the row."""


def _rows(source):
    """The CSV rows of ``source``, read lazily (a path, or a file-like of text or bytes).

    Bytes streams are decoded as UTF-8 as they are read (a leading byte-order mark
    skipped); a stream without ``readable`` is read whole.
    """
    if isinstance(source, (str, os.PathLike)):
        try:
            f = open(source, encoding="utf-8-sig", newline="")
        except FileNotFoundError:
            raise DataError(f"CSV file not found: {source}") from None
        except IsADirectoryError:
            raise DataError(f"{source} is a folder, not a CSV file") from None
        except OSError as err:
            raise DataError(f"cannot read {source}: {err.strerror or err}") from None
        with f:
            yield from csv.reader(f)
        return
    if isinstance(source, io.TextIOBase):
        yield from csv.reader(source)
        return
    if isinstance(source, (io.RawIOBase, io.BufferedIOBase)):
        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        try:
            yield from csv.reader(text)
        finally:
            text.detach()  # the caller's stream stays open
        return
    data = source.read()
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    yield from csv.reader(io.StringIO(data))


def _where(source) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "the uploaded file"


def parse_csv(source, *, max_rows: int = MAX_ROWS,
              row_advice: str = CLI_ROW_ADVICE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reads ``x,y,label`` rows, streaming: at most ``max_rows`` data rows are ever held.

    Args:
      source: a path, or a file-like object of text or bytes.
      max_rows: refuse files with more data rows than this (at most :data:`MAX_ROWS_LIMIT`).
      row_advice: what the refusal of a longer file tells the user to do (the command
        line's ``--max-rows`` by default; the app says its own).

    Returns:
      ``(points f64[n, 2], labels i32[n], class_names)``; a numeric label's class name is
      its whole value (``"1.0"`` is class ``"1"``).

    Raises:
      DataError: with a one-line message naming the problem (missing columns, text
        in a number, NaN or infinity, a coordinate beyond :data:`MAX_COORD`, a label that
        is a number but not a whole one, one class only, too many rows, no rows, not UTF-8
        text, a malformed line).
    """
    if not 1 <= max_rows <= MAX_ROWS_LIMIT:
        raise DataError(f"--max-rows must be from 1 to {MAX_ROWS_LIMIT}, got {max_rows}")
    rows = _rows(source)
    try:
        return _parse_rows(rows, max_rows, row_advice)
    except UnicodeDecodeError:
        raise DataError(f"{_where(source)} is not UTF-8 text") from None
    except csv.Error as err:
        raise DataError(f"{_where(source)} is not a readable CSV: {err}") from None
    finally:
        rows.close()  # closes the file now, whatever happened


def _columns(head: list[str]) -> tuple[list[int], list, int]:
    """``(columns of x, y, label; rows to read again; line of the first data row)``."""
    if head:
        head = [head[0].lstrip("\ufeff"), *head[1:]]  # a BOM left by a text stream
    header = [c.strip().lower() for c in head]
    if {"x", "y", "label"} <= set(header):
        return [header.index("x"), header.index("y"), header.index("label")], [], 2
    if all(_is_number(c) for c in head[:2]) and len(head) >= 3:
        return [0, 1, 2], [head], 1
    missing = [c for c in ("x", "y", "label") if c not in header]
    raise DataError(f"CSV header is missing column(s) {', '.join(missing)}: "
                    f"expected x,y,label (got {','.join(header)[:200]!r})")


def _parse_rows(rows, max_rows: int, row_advice: str):
    rows = (r for r in rows if any(c.strip() for c in r))
    head = next(rows, None)
    if head is None:
        raise DataError("the CSV is empty: expected a header x,y,label and data rows")
    cols, pending, first = _columns(head)
    pts, names = [], []
    for i, row in enumerate(itertools.chain(pending, rows)):
        line = first + i
        if i >= max_rows:
            raise DataError(f"the CSV has more than {max_rows} rows, {row_advice}")
        if len(row) <= max(cols):
            raise DataError(f"row {line} has {len(row)} column(s), expected x,y,label")
        pts.append([_coordinate(row[c].strip(), "xy"[k], line) for k, c in enumerate(cols[:2])])
        names.append(_class_of(row[cols[2]].strip(), line))
    if not pts:
        raise DataError("the CSV has a header but no data rows")
    classes = sorted(set(names), key=lambda s: (not _is_int(s), int(s) if _is_int(s) else 0, s))
    if len(classes) < 2:
        raise DataError(f"the CSV has one class only ({classes[0][:40]!r}): a classifier needs two or more")
    index = {c: k for k, c in enumerate(classes)}
    return np.array(pts, np.float64), np.array([index[s] for s in names], np.int32), classes


def _coordinate(cell: str, axis: str, line: int) -> float:
    """The number in ``cell``: finite and within :data:`MAX_COORD` (else a one-line DataError)."""
    try:
        v = float(cell)
    except ValueError:
        raise DataError(f"row {line}: {axis} is not a number: {cell[:40]!r}") from None
    if not np.isfinite(v):
        raise DataError(f"row {line}: {axis} is {cell[:40]!r}; only finite numbers are allowed")
    if abs(v) > MAX_COORD:
        raise DataError(f"row {line}: {axis} is {cell[:40]!r}, beyond +-{MAX_COORD:.0e}, the largest "
                        f"coordinate taken (float32 must hold its square): divide every "
                        f"coordinate by one constant")
    return v


def _class_of(label: str, line: int) -> str:
    """The class name of ``label``: a number is named by its whole value (``1.0`` and
    ``1e0`` are class ``1``, as ``1`` is); any other text is a name as written."""
    if not label:
        raise DataError(f"row {line}: the label is empty")
    try:
        v = float(label)
    except ValueError:
        return label
    if not (np.isfinite(v) and v == np.floor(v)):
        raise DataError(f"row {line}: the label {label[:40]!r} is a number but not a whole one: "
                        f"classes are whole numbers (1 and 1.0 are one class) or names")
    return str(int(v))


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _is_int(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def load_csv(source, *, name: str = "csv", max_rows: int = MAX_ROWS,
             default_eps: float = 0.1, rescale: bool = True,
             row_advice: str = CLI_ROW_ADVICE) -> Task:
    """Makes a :class:`~toymodels.datasets.Task` whose D is the CSV's points.

    With ``rescale`` the points are centred and scaled by one factor into
    ``[-0.9, 0.9]^2`` (where the project's models and eps live); without, they are kept
    as written (for a model of the user's that lives in the CSV's coordinates). Sampling
    D draws from them with replacement. Class k is the k-th label, whole numbers first
    in numeric order, then other labels alphabetically.

    Args:
      source, max_rows, row_advice: as :func:`parse_csv` (which checks every row).
      name: the data set's name (``csv:NAME``).
      default_eps: the task's default radius.
      rescale: move the points into the plane (else keep them as written).

    Returns:
      The :class:`~toymodels.datasets.Task`.
    """
    pts, labels, classes = parse_csv(source, max_rows=max_rows, row_advice=row_advice)
    x = pts.astype(np.float32)
    where = "in their own coordinates"
    if rescale:
        lo, hi = pts.min(0), pts.max(0)
        scale = max(float((hi - lo).max()) / 1.8, 1e-12)
        x = ((pts - (lo + hi) / 2) / scale).astype(np.float32)
        centre = ", ".join(f"{c:.3g}" for c in (lo + hi) / 2)
        where = f"rescaled into the plane (minus ({centre}), divided by {scale:.3g})"
    return points_task(x, labels, name=f"csv:{name}", default_eps=default_eps,
                       description=f"{len(x)} points of {len(classes)} classes "
                                   f"({', '.join(classes[:6])}) from {name}, {where}.")


def points_task(x, labels, *, name: str, description: str, num_classes: int | None = None,
                default_eps: float = 0.1, context=None) -> Task:
    """A :class:`~toymodels.datasets.Task` whose D is the points ``x`` (already in the
    plane ``[-1, 1]^2``, kept where they are) with classes ``labels``; sampling D draws
    from them with replacement (what an uploaded CSV and points drawn by hand become).

    Args:
      num_classes: the classes (default: the largest label of D or context + 1).
      context: ``(x f[m, 2], labels i[m])`` points the model trains on that are not
        part of D (the region around a bubble drawn by hand), or None.
    """
    x, labels = np.asarray(x, np.float32).reshape(-1, 2), np.asarray(labels, np.int32)
    if context is not None:
        context = (np.asarray(context[0], np.float32).reshape(-1, 2),
                   np.asarray(context[1], np.int32))
    xj, yj = jnp.asarray(x), jnp.asarray(labels)

    def sampler(key, n):
        idx = jax.random.randint(key, (n,), 0, len(x))
        return xj[idx], yj[idx]

    every = labels if context is None else np.concatenate([labels, context[1]])
    classes = int(every.max()) + 1 if num_classes is None else num_classes
    return Task(name=name, num_classes=classes, bounds=PLANE, expected=None,
                default_eps=default_eps, sampler=sampler, points=(x, labels),
                description=description, context=context)


def drawn_task(points) -> Task:
    """The task of points drawn by hand, ``((x, y, class, in_d), ...)``, kept where they
    were drawn (the canvas is the plane): D is the points with ``in_d``, the others a
    region around D the model trains on too (:func:`points_task`'s ``context``).

    Example:
        >>> task = drawn_task([(0.0, 0.0, 0, 1), (0.5, 0.5, 1, 0)])
        >>> len(task.points[0]), len(task.context[0]), task.num_classes
        (1, 1, 2)
    """
    def part(in_d: bool):
        mine = [p for p in points if bool(p[3]) == in_d]
        return (np.array([p[:2] for p in mine], np.float32).reshape(-1, 2),
                np.array([p[2] for p in mine], np.int32))

    (xy, labels), region = part(True), part(False)
    drawn = ", ".join(map(str, sorted(set(labels.tolist()))))
    around = f", in regions drawn with {len(region[1])} more" if len(region[1]) else ""
    return points_task(xy, labels, name="drawn", context=region if len(region[1]) else None,
                       description=f"{len(xy)} points on the canvas, of classes {drawn}{around}.")
