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
      "universal_delta": f32[2]}`` as plain numbers.
    """
    found = estimate_fractions(logits_fn, jnp.asarray(x), jnp.asarray(y), norm=norm,
                               eps=float(eps), key=key)
    return {"fractions": {k: float(getattr(found, k)) for k in KEYS},
            "by_attack": {k: float(v) for k, v in found.by_attack.items()},
            "universal_delta": np.asarray(found.universal_delta, np.float32)}


def attack_rows(by_attack: Mapping[str, float], exact: Mapping[str, float]) -> list[dict]:
    """One row per attack: the fraction it estimates, its value, the exact value, the gap.

    Every attack's flip is a witness, so ``found <= exact`` up to the exact values'
    resolution; ``short`` is how far the attack falls short.
    """
    rows = []
    for name, found in by_attack.items():
        fraction = ATTACK_FRACTION.get(name, "pointwise")
        rows.append({"attack": name, "estimates": fraction, "found": float(found),
                     "exact": float(exact[fraction]),
                     "short": float(exact[fraction]) - float(found)})
    return rows


def estimate_curves(logits_fn, x, y, norm, eps_values, key) -> dict[str, np.ndarray]:
    """Attack estimates of the four fractions at each eps of ``eps_values`` (dashed curves)."""
    rows = [estimates_at(logits_fn, x, y, norm, e, key)["fractions"] for e in eps_values]
    return {k: np.array([row[k] for row in rows]) for k in KEYS}
