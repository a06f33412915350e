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


class Pair(NamedTuple):
    """Two calls timed in alternation, and the ratio ``b / a`` of each pair."""

    a: Timing
    b: Timing
    ratios: tuple       # b's time / a's time, pair by pair

    def speedup(self) -> dict:
        """``b / a`` (how many times faster ``a`` is): median and range over the pairs."""
        return _summary(self.ratios)

    def time_ratio(self) -> dict:
        """``a / b`` (the share of ``b``'s time ``a`` takes): median and range over the pairs."""
        return _summary(tuple(1.0 / r for r in self.ratios))


def _summary(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _timed(fn):
    start = time.perf_counter()
    value = block(fn())
    return time.perf_counter() - start, value


def time_pair(fn_a: Callable[[], Any], fn_b: Callable[[], Any], *, repeats: int = 3,
              inner_a: int = 1, warmup_a: int = 1, warmup_b: int = 1) -> Pair:
    """Times ``fn_a`` and ``fn_b`` in alternation, so that both see the same machine.

    On a shared CPU the load drifts; the ratio of each pair (``b`` just after ``a``) is
    steadier than the ratio of two medians taken minutes apart.

    Args:
      fn_a: the fast side (e.g. the project's jitted call).
      fn_b: the slow side (e.g. a peer's).
      repeats: pairs.
      inner_a: calls of ``fn_a`` per pair; its median is the pair's ``a`` time.
      warmup_a, warmup_b: untimed calls of each first.

    Returns:
      A :class:`Pair`; ``a`` summarises all ``repeats * inner_a`` calls of ``fn_a``.
    """
    if repeats < 1 or inner_a < 1:
        raise ValueError(f"repeats and inner_a must be at least 1, got {repeats}, {inner_a}")
    for _ in range(warmup_a):
        block(fn_a())
    for _ in range(warmup_b):
        block(fn_b())
    all_a, all_b, ratios = [], [], []
    value_a = value_b = None
    for _ in range(repeats):
        times_a = []
        for _ in range(inner_a):
            t, value_a = _timed(fn_a)
            times_a.append(t)
        t_b, value_b = _timed(fn_b)
        all_a += times_a
        all_b.append(t_b)
        ratios.append(t_b / statistics.median(times_a))
    a = Timing(statistics.median(all_a), min(all_a), max(all_a), len(all_a), value_a)
    b = Timing(statistics.median(all_b), min(all_b), max(all_b), len(all_b), value_b)
    return Pair(a, b, tuple(ratios))


def scaled(t: Timing, factor: float) -> Timing:
    """``t`` with every time multiplied by ``factor`` (work timed on a slice of the whole)."""
    return t._replace(median=t.median * factor, low=t.low * factor, high=t.high * factor)


def first_reaching(history, target: float) -> int | None:
    """The 1-based pass after which ``history`` first reaches ``target`` (``None``: never)."""
    return next((k + 1 for k, r in enumerate(history) if r >= target - 1e-9), None)


def time_to_rate(seconds, rates, target: float) -> tuple[int, float] | None:
    """When a run, pass by pass, first reaches a rate (a later pass may fall below it again).

    Args:
      seconds: the time at the end of each pass, from the run's start.
      rates: the rate after each pass.
      target: the rate to reach.

    Returns:
      ``(passes, seconds at the end of the first pass reaching target)``, or ``None``.

    Example:
        >>> time_to_rate([1.5, 3.0, 4.5], [0.1, 0.3, 0.2], 0.25)
        (2, 3.0)
    """
    k = first_reaching(rates, target)
    return None if k is None else (k, seconds[k - 1])
