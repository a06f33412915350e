"""What the pages read off a model, without Streamlit: the sample of D, the profile of
the four curves scanned once up to :data:`~app_pages.urlstate.EPS_MAX` (kept on disk
beside the model), and the four fractions at one eps read from it.

Moving eps or tau never rescans: :func:`read_at` answers from the profile (~0.05 s).
"""

from __future__ import annotations

import inspect
import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import parse_norm
from categories import KEYS, Fractions, Profile, exact_at, scan_profile
from drawing import labels_of
from store import content_digest, save_npz, write_json
from toymodels import TrainConfig, model_path, sample_of_d as setting_sample
from app_pages.urlstate import EPS_MAX

N_POINTS = 1000        # the sample of D (the CLI report's size)
MAX_POINTS = 2000      # data-defined sets larger than this are subsampled


def sample_of_d(task, seed: int, n: int = N_POINTS) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    """The sample of D the app measures (:func:`toymodels.sample_of_d`, the report's key
    split, data-defined sets subsampled to :data:`MAX_POINTS`), with the key left for attacks."""
    return setting_sample(task, seed, n, max_points=MAX_POINTS)


def scan(logits_fn, x, y, norm, path: str | None = None) -> Profile:
    """The profile of the four curves over ``(0, EPS_MAX]`` (one scan per model and norm).

    Args:
      path: an ``.npz`` file keeping the profile across restarts (see
        :func:`profile_path`); it is reused only if it was scanned from the same points
        by the same version of the exact scan (:func:`categories.scan_profile`), else
        rescanned and rewritten.
    """
    stamp = _scan_stamp(x, y, norm)
    if path is not None and os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as saved:
                if str(saved["stamp"]) == stamp:
                    return Profile(**{f: jnp.asarray(saved[f]) for f in Profile._fields})
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign: scan again
    profile = scan_profile(logits_fn, x, y, norm=norm, eps_max=EPS_MAX)
    if path is not None:
        save_npz(path, {"stamp": np.array(stamp),
                        **{f: np.asarray(getattr(profile, f)) for f in Profile._fields}})
    return profile


def profile_path(task, config: TrainConfig, norm) -> str | None:
    """Where the profile of ``config`` on a named task is kept (None for data-defined sets)."""
    if task.points is not None:
        return None
    return model_path(task, config)[:-4] + f"-profile-l{parse_norm(norm)}.npz"


def measured_path(profile_file: str | None) -> str | None:
    """Where the fractions measured at radii other than the scan's (the change search's)
    are kept: beside the profile (None where the profile is not kept)."""
    return None if profile_file is None else profile_file[:-4] + "-measured.json"


def load_measured(path: str | None, x, y, norm) -> dict[float, dict]:
    """``{eps: {fraction: value}}`` kept at ``path`` for this very scan (see :func:`scan`),
    or ``{}`` when there is none, or it is unreadable or of another scan."""
    if path is None or not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            kept = json.load(f)
        if kept["stamp"] != _scan_stamp(x, y, norm):
            return {}
        return {float(e): {k: float(v[k]) for k in KEYS} for e, v in kept["measured"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def save_measured(path: str | None, x, y, norm, measured: dict) -> None:
    """Keeps ``{eps: {fraction: value}}`` at ``path`` (atomically), stamped with the scan."""
    if path is not None:
        write_json(path, {"stamp": _scan_stamp(x, y, norm),
                          "measured": [[e, measured[e]] for e in sorted(measured)]}, indent=None)


def _scan_stamp(x, y, norm) -> str:
    """Names what a cached profile was scanned from: the points, the labels, the source of
    the exact scan (the module of :func:`categories.scan_profile`) and the norm."""
    with open(inspect.getsourcefile(scan_profile), "rb") as f:
        source = f.read()
    return content_digest(np.asarray(x, np.float32), np.asarray(y, np.int32), source,
                          f"{parse_norm(norm)}|{EPS_MAX}")


class Reading(NamedTuple):
    """The four fractions at one eps, as plain numbers and arrays."""

    eps: float
    fractions: dict        # {"robust", "pointwise", "universal", "random": float}
    universal_delta: np.ndarray   # f32[2]
    universal_fooled: np.ndarray  # bool[n]
    clean_accuracy: float


def read_at(logits_fn, x, profile: Profile, norm, eps: float) -> Reading:
    """:func:`categories.exact_at` as numbers (``eps <= EPS_MAX``)."""
    fractions: Fractions = exact_at(logits_fn, x, profile, norm=norm, eps=float(eps))
    values = {k: float(np.clip(float(getattr(fractions, k)), 0.0, 1.0)) for k in KEYS}
    return Reading(float(eps), values, np.asarray(fractions.universal_delta, np.float32),
                   np.asarray(fractions.universal_fooled, bool),
                   float(fractions.clean_accuracy))


def flips_of(logits_fn, x, pred, correct, delta) -> tuple[np.ndarray, float]:
    """The points of D that one delta flips: ``(flipped bool[n], share)``.

    ``flipped`` is ``f(I + delta) != f(I)`` on the correctly classified points (False
    elsewhere); ``share`` counts it among them, as :func:`categories.exact_at` counts
    ``universal``, so your delta's share and the best delta's compare.
    """
    x = np.asarray(x, np.float32)
    moved = labels_of(logits_fn, x + np.asarray(delta, np.float32)[None])
    correct = np.asarray(correct, bool)
    flipped = (moved != np.asarray(pred)) & correct
    return flipped, float(flipped.sum() / max(int(correct.sum()), 1))


def flips_of_many(logits_fn, x, pred, correct, deltas) -> tuple[np.ndarray, float]:
    """:func:`flips_of` for several deltas: ``(shares f[k], every)``, each delta's share
    and the share of D that every one of the ``k`` deltas flips (the quantifier *for all
    delta* over the deltas drawn)."""
    x = np.asarray(x, np.float32)
    deltas = np.asarray(deltas, np.float32).reshape(-1, 2)
    moved = labels_of(logits_fn, (x[None] + deltas[:, None]).reshape(-1, 2)).reshape(len(deltas), -1)
    correct = np.asarray(correct, bool)
    flipped = (moved != np.asarray(pred)[None]) & correct[None]
    count = max(int(correct.sum()), 1)
    return flipped.sum(axis=1) / count, float(flipped.all(axis=0).sum() / count)


def curves_of(profile: Profile) -> dict[str, np.ndarray]:
    """The profile's four curves over ``profile.radii`` as numpy arrays."""
    return {k: np.clip(np.asarray(getattr(profile, k), np.float64), 0, 1) for k in KEYS}


def curves_with(profile: Profile, measured: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(radii, curves)``: the profile's curves with the values measured at other radii
    (``{eps: {fraction: value}}``, e.g. :attr:`categories.Changes.measured`) put in their
    place, so that the curves cross tau where the located changes are.

    At the scan's radii the measure and the curves agree (the same rays; universal's
    search can only add, by a few thousandths), so the merged curves stay smooth.
    """
    table = {float(r): {k: float(v[i]) for k, v in curves_of(profile).items()}
             for i, r in enumerate(np.asarray(profile.radii))}
    table.update({float(e): dict(v) for e, v in measured.items()})
    radii = np.array(sorted(table))
    return radii, {k: np.array([table[e][k] for e in radii]) for k in KEYS}
