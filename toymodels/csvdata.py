"""Any 2D data set from a CSV of ``x,y,label`` rows, checked row by row.

Coordinates are rescaled (one factor for both axes, so that balls stay balls) into
the plane ``[-1, 1]^2`` where the models and the eps of the presets live; labels may
be integers or names and are numbered in sorted order.

Example:
    >>> import io
    >>> task = load_csv(io.StringIO("x,y,label\\n0,0,a\\n1,1,b\\n0,1,a\\n"), name="demo")
    >>> task.num_classes, task.points[0].shape
    (2, (3, 2))
"""

from __future__ import annotations

import csv
import io
import os

import jax
import jax.numpy as jnp
import numpy as np

from toymodels.datasets import PLANE, Task

MAX_ROWS = 20_000


class DataError(ValueError):
    """A CSV that cannot be used; the message names the problem and the row."""


def _read_text(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            raise DataError(f"CSV file not found: {source}") from None
        except UnicodeDecodeError:
            raise DataError(f"{source}: not a UTF-8 text file") from None
    data = source.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError("the uploaded file is not UTF-8 text") from None
    return data


def parse_csv(source, *, max_rows: int = MAX_ROWS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reads ``x,y,label`` rows.

    Args:
      source: a path, or a file-like object of text or bytes.
      max_rows: refuse files with more data rows than this.

    Returns:
      ``(points f64[n, 2], labels i32[n], class_names)``.

    Raises:
      DataError: with a one-line message naming the problem (missing columns, text
        in a number, NaN or infinity, one class only, too many rows, no rows).
    """
    rows = [r for r in csv.reader(io.StringIO(_read_text(source))) if any(c.strip() for c in r)]
    if not rows:
        raise DataError("the CSV is empty: expected a header x,y,label and data rows")
    header = [c.strip().lower() for c in rows[0]]
    if {"x", "y", "label"} <= set(header):
        cols = [header.index("x"), header.index("y"), header.index("label")]
        body, first = rows[1:], 2
    elif all(_is_number(c) for c in rows[0][:2]) and len(rows[0]) >= 3:
        cols, body, first = [0, 1, 2], rows, 1
    else:
        missing = [c for c in ("x", "y", "label") if c not in header]
        raise DataError(f"CSV header is missing column(s) {', '.join(missing)}: "
                        f"expected x,y,label (got {','.join(header)})")
    if not body:
        raise DataError("the CSV has a header but no data rows")
    if len(body) > max_rows:
        raise DataError(f"the CSV has {len(body)} rows, more than the limit of {max_rows}")
    pts, names = np.empty((len(body), 2)), []
    for i, row in enumerate(body):
        line = first + i
        if len(row) <= max(cols):
            raise DataError(f"row {line} has {len(row)} column(s), expected x,y,label")
        for k, c in enumerate(cols[:2]):
            cell = row[c].strip()
            try:
                v = float(cell)
            except ValueError:
                raise DataError(f"row {line}: {'xy'[k]} is not a number: {cell!r}") from None
            if not np.isfinite(v):
                raise DataError(f"row {line}: {'xy'[k]} is {cell!r}; only finite numbers are allowed")
            pts[i, k] = v
        label = row[cols[2]].strip()
        if not label:
            raise DataError(f"row {line}: the label is empty")
        names.append(label)
    classes = sorted(set(names), key=lambda s: (not _is_int(s), int(s) if _is_int(s) else 0, s))
    if len(classes) < 2:
        raise DataError(f"the CSV has one class only ({classes[0]!r}): a classifier needs two or more")
    index = {c: k for k, c in enumerate(classes)}
    return pts, np.array([index[s] for s in names], np.int32), classes


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
             default_eps: float = 0.1) -> Task:
    """Makes a :class:`~toymodels.datasets.Task` whose D is the CSV's points.

    The points are centred and scaled by one factor into ``[-0.9, 0.9]^2``; sampling
    D draws from them with replacement.
    """
    pts, labels, classes = parse_csv(source, max_rows=max_rows)
    lo, hi = pts.min(0), pts.max(0)
    scale = max(float((hi - lo).max()) / 1.8, 1e-12)
    x = ((pts - (lo + hi) / 2) / scale).astype(np.float32)
    xj, yj = jnp.asarray(x), jnp.asarray(labels)

    def sampler(key, n):
        idx = jax.random.randint(key, (n,), 0, len(x))
        return xj[idx], yj[idx]

    return Task(name=f"csv:{name}", num_classes=len(classes), bounds=PLANE, expected=None,
                default_eps=default_eps, sampler=sampler, points=(x, labels),
                description=f"{len(x)} points of {len(classes)} classes "
                            f"({', '.join(classes[:6])}) from {name}, rescaled into the plane.")
