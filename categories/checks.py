"""The rules every front end (the command lines and the app) applies to eps and the seed.

Example:
    >>> check_eps("0.15"), check_seed("7")
    (0.15, 7)
    >>> check_eps(0.5, maximum=0.4)
    Traceback (most recent call last):
    ValueError: eps must be at most 0.4, got 0.5
"""

from __future__ import annotations

import numpy as np

SEED_MAX = 2 ** 31 - 1   # seeds are whole numbers from 0 to this


def check_eps(eps, *, maximum: float | None = None) -> float:
    """Returns ``eps`` as a positive finite float (at most ``maximum`` if given), else
    raises ValueError (one line)."""
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a positive number, got {eps!r}") from None
    if not (np.isfinite(e) and e > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    if maximum is not None and e > maximum:
        raise ValueError(f"eps must be at most {maximum:g}, got {eps!r}")
    return e


def check_seed(seed) -> int:
    """Returns ``seed`` as an int from 0 to :data:`SEED_MAX`, else raises ValueError."""
    try:
        s = int(seed)
    except (TypeError, ValueError):
        s = None
    if s is None or not 0 <= s <= SEED_MAX or (isinstance(seed, float) and seed != s):
        raise ValueError(f"the seed must be a whole number from 0 to {SEED_MAX}, got {seed!r}")
    return s
