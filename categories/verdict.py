"""The verdict rule of DESIGN.md: which category a model is in at ``(eps, tau)``.

Example:
    >>> verdict({"robust": 0.1, "pointwise": 0.9, "universal": 0.95, "random": 0.3}, 0.8)
    3
    >>> verdict({"robust": 0.5, "pointwise": 0.5, "universal": 0.2, "random": 0.1}, 0.8)
    '1-2'
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

DEFAULT_TAU = 0.8
# A share of a count computed in float32 lies within ~1e-7 of the exact k / n (how far
# depends on how XLA compiled the division): a share equal to tau reaches tau even when
# it comes out a rounding below it, so the verdict is the one of the counts.
TIE = 1e-6

FORMULAS = {
    1: r"\forall I \in D,\ \forall \delta \in B_\varepsilon:\ f(I) = f(I+\delta)",
    2: r"\forall I \in D,\ \exists \delta \in B_\varepsilon:\ f(I) \neq f(I+\delta)",
    3: r"\exists \delta \in B_\varepsilon,\ \forall I \in D:\ f(I) \neq f(I+\delta)",
    4: r"\forall I \in D,\ \forall \delta \in S_\varepsilon:\ f(I) \neq f(I+\delta)",
}
NAMES = {
    1: "no adversarial perturbations",
    2: "adversarial perturbations",
    3: "universal perturbations",
    4: "all perturbations are adversarial",
    "1-2": "between 1 and 2",
}
FRACTION_OF = {1: "robust", 2: "pointwise", 3: "universal", 4: "random"}


TRUSTED_ACCURACY = 0.9  # below this clean accuracy a verdict is shown with its caveat


def accuracy_caveat(clean_accuracy: float) -> str | None:
    """``"on only 52% of D"`` when the model classifies less than :data:`TRUSTED_ACCURACY`
    of D correctly, else None: the fractions, and so the verdict, count only those points.

    The share is rounded down, so a caveat never reads "on only 90% of D".

    Example:
        >>> accuracy_caveat(0.5249), accuracy_caveat(0.95)
        ('on only 52% of D', None)
    """
    accuracy = float(clean_accuracy)
    if accuracy >= TRUSTED_ACCURACY:
        return None
    return f"on only {int(np.floor(accuracy * 100 + 1e-9))}% of D"


def check_tau(tau: float) -> float:
    """Returns ``tau`` as a float if it is in (0, 1], else raises ValueError."""
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise ValueError(f"tau must be a number in (0, 1], got {tau!r}") from None
    if not 0 < t <= 1:
        raise ValueError(f"tau must be in (0, 1], got {tau!r}")
    return t


def verdict(fractions: Mapping[str, float], tau: float = DEFAULT_TAU) -> int | str:
    """Category 4 if random >= tau, else 3 if universal >= tau, else 2 if pointwise >= tau,
    else 1 if robust >= tau, else ``"1-2"``.

    Args:
      fractions: a mapping (or object with attributes) holding ``robust``,
        ``pointwise``, ``universal`` and ``random``.
      tau: the "almost all" share, in (0, 1].

    Returns:
      1, 2, 3, 4 or ``"1-2"``.
    """
    tau = check_tau(tau)
    get = fractions.get if hasattr(fractions, "get") else lambda k: getattr(fractions, k)
    for cat in (4, 3, 2, 1):
        if float(get(FRACTION_OF[cat])) >= tau - TIE:
            return cat
    return "1-2"


class Rung(NamedTuple):
    """One category of the verdict ladder."""

    category: int
    name: str          # e.g. "universal perturbations"
    fraction: str      # e.g. "universal"
    value: float
    holds: bool        # value >= tau (to TIE)


def ladder(fractions: Mapping[str, float], tau: float) -> tuple[list[Rung], int | str]:
    """The four rungs (category 1 to 4) and the verdict at ``tau``."""
    rungs = [Rung(c, NAMES[c], FRACTION_OF[c], float(fractions[FRACTION_OF[c]]),
                  float(fractions[FRACTION_OF[c]]) >= tau - TIE) for c in (1, 2, 3, 4)]
    return rungs, verdict(fractions, tau)


def verdict_changes(radii, curves: Mapping[str, np.ndarray], tau: float) -> list[tuple]:
    """Where the verdict changes along eps, as read off a grid of radii: each change is
    off by up to one step, and a verdict held between two radii is not seen.
    :func:`categories.locate_changes` locates them with the measure itself.

    Args:
      radii: ``f[T]`` the eps grid; curves: the four fractions on it.

    Returns:
      ``[(eps, verdict_before, verdict_after), ...]`` at the grid's first eps of each new
      verdict.
    """
    out, prev = [], None
    for k, e in enumerate(np.asarray(radii)):
        v = verdict({name: float(c[k]) for name, c in curves.items()}, tau)
        if prev is not None and v != prev:
            out.append((float(e), prev, v))
        prev = v
    return out
