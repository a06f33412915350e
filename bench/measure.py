"""Wall-clock measurement: a warm-up, then several timed runs; the median and the spread.

Every timed call is blocked until its result exists (``jax.block_until_ready`` on
JAX arrays; torch and numpy work is synchronous on the CPU), so a figure is the time of
the work, not of dispatching it.

Example:
    >>> t = time_call(lambda: sum(range(1000)), warmup=1, repeats=3)
    >>> t.runs, t.low <= t.median <= t.high
    (3, True)
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, NamedTuple

import jax


class Timing(NamedTuple):
    """Seconds of one measured call: the median of ``runs`` timed runs and their range.

    ``value`` is the result of the last run (kept so a benchmark can report what the
    timed work achieved, not only how long it took).
    """

    median: float
    low: float
    high: float
    runs: int
    value: Any = None

    def spread(self) -> str:
        """``"low-high"`` in the median's unit, for the table."""
        return f"{self.low:.3g}-{self.high:.3g}"

    def as_dict(self) -> dict:
        """The figures (without ``value``), for the JSON output."""
        return {"median_s": self.median, "min_s": self.low, "max_s": self.high, "runs": self.runs}


def block(value):
    """Waits until every JAX array in ``value`` (any pytree) is computed; returns it."""
    return jax.block_until_ready(value)


def time_call(fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 5) -> Timing:
    """Times ``fn()``: ``warmup`` untimed calls (compilation, caches), then ``repeats`` timed.

    Args:
      fn: a function of no arguments doing the work; its result is blocked on.
      warmup: untimed calls first (0 to time a cold call).
      repeats: timed calls (at least 1).

    Returns:
      A :class:`Timing` in seconds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        block(fn())
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = block(fn())
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), max(times), repeats, value)


def ratio(a: Timing | None, b: Timing | None) -> float | None:
    """``a.median / b.median``, or ``None`` when either side was not measured."""
    if a is None or b is None or b.median <= 0:
        return None
    return a.median / b.median
