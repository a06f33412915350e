"""Attacks against the exact values: FGSM, PGD, DeepFool and the universal algorithms
(:func:`categories.estimate_fractions`) at one eps or along eps, and how far each falls
short of the exact fraction it estimates.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp
import numpy as np

from categories import KEYS, estimate_fractions

# the fraction each attack estimates (an attack not named here estimates pointwise)
ATTACK_FRACTION = {"fgsm": "pointwise", "pgd": "pointwise", "deepfool": "pointwise",
                   "universal (DeepFool)": "universal", "universal (SGD)": "universal",
                   "random": "random"}


def estimates_at(logits_fn, x, y, norm, eps: float, key) -> dict:
    """The attack estimates at eps (:func:`categories.estimate_fractions`).

    Returns:
      ``{"fractions": {robust..random}, "by_attack": {name: share},
      "universal_delta": f32[2], "random_interval": (lo, hi)}`` as plain numbers.
    """
    found = estimate_fractions(logits_fn, jnp.asarray(x), jnp.asarray(y), norm=norm,
                               eps=float(eps), key=key)
    return {"fractions": {k: float(getattr(found, k)) for k in KEYS},
            "by_attack": {k: float(v) for k, v in found.by_attack.items()},
            "universal_delta": np.asarray(found.universal_delta, np.float32),
            "random_interval": tuple(float(v) for v in found.random_interval)}


def _points(k: int) -> str:
    return f"{k} point{'' if k == 1 else 's'}"


def bracket_check(found: float, bracket, *, counted: int | None = None,
                  statistic: tuple | None = None) -> str:
    """How an attack's share (or a statistic's interval) sits against a certified bracket.

    An attack's flips are real, so it can reach ``hi`` (then it is optimal: nothing in
    B_eps flips more) but never pass it: one above is a bug, and is named so. Shares of
    ``counted`` points are compared as the counts they are, integers: a float32 share equal
    to a float64 ``hi`` is the same count, not a point above it.

    Args:
      found: the attack's share of the counted points.
      bracket: ``(lo, hi)``, shares of the same points.
      counted: how many points the shares count (the certified ``n``).
      statistic: ``(a, b)``, a Monte Carlo estimate's 95% interval: a statistic, not an
        attack, compared through its interval (random's bracket is a measure over the
        sphere, not a count).

    Returns:
      One phrase for the table.
    """
    lo, hi = bracket
    if statistic is not None:
        a, b = statistic
        tol = 1e-9
        if b < lo - tol or a > hi + tol:
            return f"its 95% interval [{a:.3f}, {b:.3f}] misses the bracket"
        return f"its 95% interval [{a:.3f}, {b:.3f}] overlaps the bracket"
    if counted is None:
        raise ValueError("an attack's share is checked as a count: pass counted")
    found, lo, hi = (int(round(float(v) * counted)) for v in (found, lo, hi))
    if found > hi:
        return f"ABOVE hi by {_points(found - hi)}: a bug"
    if found == hi:
        return f"optimal: reaches hi ({found} of {counted} points)"
    if found >= lo:
        return f"inside the bracket, {_points(hi - found)} below hi"
    return f"below lo by {_points(lo - found)}"


def attack_rows(by_attack: Mapping[str, float], exact: Mapping[str, float],
                brackets: Mapping[str, tuple] | None = None,
                random_interval: tuple | None = None, counted: int | None = None) -> list[dict]:
    """One row per attack: the fraction it estimates, its value, the exact value, the gap,
    and with ``brackets`` (certified ``(lo, hi)`` per fraction, shares of ``counted``
    points) the check against them (:func:`bracket_check`).

    Every attack's flip is a witness, so ``found <= exact`` up to the exact values'
    resolution; ``short`` is how far the attack falls short. The Monte Carlo ``random``
    is a statistic (its ``short`` is None): it is compared through ``random_interval``.
    """
    rows = []
    for name, found in by_attack.items():
        fraction = ATTACK_FRACTION.get(name, "pointwise")
        statistic = name == "random"
        row = {"attack": "Monte Carlo (64 directions)" if statistic else name,
               "estimates": fraction, "found": float(found), "exact": float(exact[fraction]),
               "short": None if statistic else float(exact[fraction]) - float(found)}
        if brackets is not None:
            lo, hi = brackets[fraction]
            row["bracket"] = f"[{lo:.3f}, {hi:.3f}]"
            row["check"] = bracket_check(found, (lo, hi), counted=counted,
                                         statistic=random_interval if statistic else None)
        rows.append(row)
    return rows


def estimate_curves(logits_fn, x, y, norm, eps_values, key) -> dict[str, np.ndarray]:
    """Attack estimates of the four fractions at each eps of ``eps_values`` (dashed curves)."""
    rows = [estimates_at(logits_fn, x, y, norm, e, key)["fractions"] for e in eps_values]
    return {k: np.array([row[k] for row in rows]) for k in KEYS}
