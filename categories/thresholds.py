"""Where the verdict changes along eps, located to a stated precision by the measure itself.

The scan's curves (:func:`categories.exact2d.scan_profile`) sit on a grid of radii
(``eps_max / n_radii`` apart): a change read off them is off by up to one step, and a
category that holds between two grid radii is not seen at all. Here every change is
located with the measure the verdict ladder reads at one eps (:func:`exact_at`, or any
function of eps returning the four fractions); the grid only says where to look first.

pointwise and universal only grow with eps (robust only shrinks) and random nearly always
does, so the verdict climbs the ladder ``1, 1-2, 2, 3, 4``: two radii with the same
verdict hold no change between them. (random is measured on the sphere S_eps, not the
ball: far out it can fall again, as on bubbles at eps ~0.33; a fall narrower than the
grid step between the hints could go unseen.) The search keeps the radii it has measured
and narrows every neighbouring pair whose verdicts differ until it is at most
``precision`` wide, each probe placed where the fraction that changes is interpolated
(a monotone cubic through every radius measured) to reach tau, then one probe
``precision`` further to close the pair, falling back to bisection. A category that holds
over an interval wider than ``precision`` therefore shows as a verdict of its own.

Example:
    >>> def measure(e):   # pointwise reaches 0.8 at 0.1, universal at 0.2, random at 0.21
    ...     return {"pointwise": min(8 * e, 1.0), "robust": 1 - min(8 * e, 1.0),
    ...             "universal": min(4 * e, 1.0), "random": min(4 * e - 0.04, 1.0)}
    >>> found = locate_changes(measure, 0.8, stop=0.4, hints=[0.05, 0.15, 0.25])
    >>> [(round(c.eps, 3), c.before, c.after) for c in found.changes]
    [(0.025, 1, '1-2'), (0.1, '1-2', 2), (0.2, 2, 3), (0.21, 3, 4)]
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from categories.verdict import FRACTION_OF, check_tau, verdict

PRECISION = 0.001          # every stated change lies within this of the true one
LADDER = (1, "1-2", 2, 3, 4)
INTERPOLATED = 3           # probes per change placed by interpolation before bisecting
CLOSE = 0.999              # a closing probe lands this far into the precision (rounding)


class Change(NamedTuple):
    """One change of the verdict along eps."""

    eps: float             # the middle of [lo, hi]: within precision / 2 of the change
    before: int | str      # the verdict measured at lo
    after: int | str       # the verdict measured at hi
    lo: float
    hi: float              # hi - lo <= precision
    skipped: tuple         # ladder rungs between before and after (held < precision, if at all)


class Changes(NamedTuple):
    """Every change of the verdict over ``[start, stop]``, and what it cost."""

    changes: list          # [Change] in order of eps
    first: int | str       # the verdict at ``start``
    start: float
    stop: float
    precision: float
    measured: dict         # {eps: {fraction: value}} every radius the search measured


def _values(fractions) -> dict:
    get = fractions.get if hasattr(fractions, "get") else lambda k: getattr(fractions, k)
    return {k: float(get(k)) for k in FRACTION_OF.values()}


def _rank(v) -> int:
    return LADDER.index(v)


def _crossing(xs, values, a, b, tau, falling) -> float | None:
    """Where a monotone cubic through every measured ``(xs, values)`` first reaches tau
    (falls below it, if ``falling``) inside ``(a, b)``."""
    from scipy.interpolate import PchipInterpolator

    grid = np.linspace(a, b, 257)
    curve = PchipInterpolator(xs, values)(grid)
    hit = curve < tau if falling else curve >= tau
    return float(grid[np.argmax(hit)]) if hit.any() else None


def _estimate(seen: dict, a, b, tau) -> float | None:
    """Where the first fraction that moves the verdict up from ``a``'s is interpolated to
    reach tau inside ``(a, b)`` (None when no fraction crosses the right way)."""
    xs = sorted(seen)
    va, fa, fb = verdict(seen[a], tau), seen[a], seen[b]
    found = []
    for category, name in FRACTION_OF.items():
        values = [seen[e][name] for e in xs]
        if category == 1 and va == 1 and fa[name] >= tau > fb[name]:
            found.append(_crossing(xs, values, a, b, tau, True))
        elif category > 1 and (va == "1-2" or category > va) and fa[name] < tau <= fb[name]:
            found.append(_crossing(xs, values, a, b, tau, False))
    found = [e for e in found if e is not None]
    return min(found) if found else None


def _probe(seen: dict, a, b, tau, precision, tries) -> float:
    """The next radius to measure inside ``(a, b)``, whose verdicts differ."""
    width = b - a
    guess = _estimate(seen, a, b, tau) if tries < INTERPOLATED else None
    if guess is None or width <= 2 * precision:
        return 0.5 * (a + b)
    # the change hugs an end: close it off there (a hair inside, so that rounding leaves
    # the pair no wider than the precision)
    if guess - a <= 0.5 * precision:
        return a + CLOSE * precision
    if b - guess <= 0.5 * precision:
        return b - CLOSE * precision
    return guess if a < guess < b else 0.5 * (a + b)


def locate_changes(measure: Callable[[float], Mapping], tau: float, *, stop: float,
                   hints: Sequence[float] = (), precision: float = PRECISION,
                   start: float | None = None) -> Changes:
    """Every change of the verdict over ``[start, stop]``, each to within ``precision``.

    Args:
      measure: eps -> the four fractions (a mapping or an object with the attributes
        ``robust``, ``pointwise``, ``universal``, ``random``), e.g. :func:`exact_at`.
      tau: the "almost all" share.
      stop: the largest eps; start: the smallest (default ``precision``).
      hints: radii measured first (e.g. both sides of each change the grid shows).
      precision: the widest interval a change is left in.

    Returns:
      :class:`Changes`.
    """
    tau = check_tau(tau)
    start = float(precision if start is None else start)
    seen: dict[float, dict] = {}

    def at(e: float) -> dict:
        if e not in seen:
            seen[e] = _values(measure(e))
        return seen[e]

    for e in sorted({start, float(stop), *(float(h) for h in hints if start < h < stop)}):
        at(e)
    tries: dict[tuple, int] = {}
    while True:
        xs = sorted(seen)
        open_pairs = [(a, b) for a, b in zip(xs, xs[1:]) if b - a > precision
                      and verdict(seen[a], tau) != verdict(seen[b], tau)]
        if not open_pairs:
            break
        for a, b in open_pairs:
            key = (verdict(seen[a], tau), verdict(seen[b], tau))
            at(_probe(seen, a, b, tau, precision, tries.get(key, 0)))
            tries[key] = tries.get(key, 0) + 1
    xs = sorted(seen)
    changes = []
    for a, b in zip(xs, xs[1:]):
        before, after = verdict(seen[a], tau), verdict(seen[b], tau)
        if before != after:
            between = LADDER[min(_rank(before), _rank(after)) + 1:max(_rank(before),
                                                                      _rank(after))]
            # with tau <= 0.5, robust or pointwise always reaches tau: no rung "1-2"
            skipped = tuple(v for v in between if v != "1-2" or tau > 0.5)
            changes.append(Change(0.5 * (a + b), before, after, a, b, skipped))
    return Changes(changes, verdict(seen[start], tau), start, float(stop), float(precision),
                   seen)


def grid_hints(radii, curves: Mapping[str, np.ndarray], tau: float) -> list[float]:
    """Both grid radii around every change the curves show on their grid (where
    :func:`locate_changes` looks first)."""
    radii = np.asarray(radii, float)
    verdicts = [verdict({k: float(c[i]) for k, c in curves.items()}, tau)
                for i in range(len(radii))]
    return sorted({float(radii[j]) for i in range(1, len(radii))
                   if verdicts[i] != verdicts[i - 1] for j in (i - 1, i)})


__all__ = ["Change", "Changes", "LADDER", "PRECISION", "grid_hints", "locate_changes"]
