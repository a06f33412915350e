"""The files the explore page offers: the view's perturbations as ``.npz`` bytes (numpy,
no pickle; ``np.load(path)`` reads them)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from attacks import parse_norm
from categories import Profile
from store import npz_bytes
from app_pages.reading import Reading, curves_of
from app_pages.urlstate import ViewState


def perturbations_npz(*, x, y, pred, profile: Profile, reading: Reading, norm, random,
                      state: ViewState, task_name: str) -> bytes:
    """The perturbations of the view as ``.npz`` bytes (no pickle).

    Arrays: ``x``, ``y``, ``pred``, ``rho`` (inf beyond EPS_MAX), ``minimal`` (per-point
    minimal perturbation), ``universal_delta``, ``universal_fooled``, ``random_delta``
    (one delta on S_eps per point), ``radii`` and the four curves, and ``meta`` (JSON of
    the state, the task, the norm, eps and the four fractions).
    """
    meta = {"state": dataclasses.asdict(state), "task": task_name, "norm": parse_norm(norm),
            "eps": reading.eps, "fractions": reading.fractions,
            "clean_accuracy": reading.clean_accuracy}
    arrays = {"x": np.asarray(x), "y": np.asarray(y), "pred": np.asarray(pred),
              "rho": np.asarray(profile.rho), "minimal": np.asarray(profile.r),
              "universal_delta": reading.universal_delta,
              "universal_fooled": reading.universal_fooled,
              "random_delta": np.asarray(random), "radii": np.asarray(profile.radii),
              **{f"curve_{k}": v for k, v in curves_of(profile).items()},
              "meta": np.array(json.dumps(meta))}
    return npz_bytes(arrays)
