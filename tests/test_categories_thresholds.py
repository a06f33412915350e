"""Where the verdict changes, located by the measure itself: against closed forms and
against a fine scan of the exact values on every data set in both norms."""

import functools

import jax
import numpy as np
import pytest

from categories import (LADDER, PRECISION, exact_at, grid_hints, locate_changes, scan_profile,
                        verdict)
from toymodels import TASK_NAMES, TrainConfig, get_task, train

EPS_MAX = 0.4      # the app's range


def _linear(points: dict):
    """A measure whose fractions are straight lines reaching 0.8 at the given eps:
    ``{"pointwise": e2, "universal": e3, "random": e4}`` (each rising 4 per unit of eps)."""
    def measure(e):
        f = {k: float(np.clip(0.8 + 4 * (e - at), 0, 1)) for k, at in points.items()}
        return {**f, "robust": 1 - f["pointwise"]}
    return measure


def _check(found, truth: list[tuple]):
    """Every change found is one of ``truth`` ``(eps, before, after)``, in order, within
    the precision (and its pair no wider than it)."""
    assert [(c.before, c.after) for c in found.changes] == [(b, a) for _, b, a in truth]
    for c, (e, _, _) in zip(found.changes, truth):
        assert c.hi - c.lo <= PRECISION + 1e-12
        assert c.lo <= e + 1e-9 and e <= c.hi + 1e-9       # the true change is in [lo, hi]
        assert abs(c.eps - e) <= PRECISION / 2 + 1e-9


def test_each_change_is_located_to_the_precision():
    # pointwise reaches 0.8 at 0.1 (robust falls below it at 0.1 - 0.6 / 4 = -0.05: never)
    found = locate_changes(_linear({"pointwise": 0.1, "universal": 0.2, "random": 0.3}), 0.8,
                           stop=EPS_MAX, hints=[0.05, 0.15, 0.25, 0.35])
    _check(found, [(0.1, "1-2", 2), (0.2, 2, 3), (0.3, 3, 4)])
    assert found.first == "1-2"
    # each located in a few measures, not a bisection of the whole range
    assert len(found.measured) <= 6 + 3 * 3


def test_a_category_held_over_a_short_range_is_not_skipped():
    # bubbles-like: universal reaches tau at 0.0853, random at 0.0875 (3 for 0.0022)
    found = locate_changes(_linear({"pointwise": 0.05, "universal": 0.0853,
                                    "random": 0.0875}), 0.8, stop=EPS_MAX,
                           hints=[0.0833, 0.1])       # the grid sees 2 at 0.0833, 4 at 0.1
    _check(found, [(0.05, "1-2", 2), (0.0853, 2, 3), (0.0875, 3, 4)])
    assert all(c.skipped == () for c in found.changes)


def test_a_category_held_for_less_than_the_precision_is_named_as_skipped():
    found = locate_changes(_linear({"pointwise": 0.05, "universal": 0.0853,
                                    "random": 0.0857}), 0.8, stop=EPS_MAX, hints=[0.0833, 0.1])
    assert [(c.before, c.after, c.skipped) for c in found.changes][-1] == (2, 4, (3,))
    assert found.changes[-1].lo <= 0.0853 and 0.0857 <= found.changes[-1].hi


def test_no_change_and_a_verdict_that_falls_back():
    found = locate_changes(lambda e: {"robust": 1.0, "pointwise": 0.0, "universal": 0.0,
                                      "random": 0.0}, 0.8, stop=EPS_MAX)
    assert found.changes == [] and found.first == 1 and len(found.measured) == 2
    # random is measured on the sphere S_eps, not the ball: it can fall again as eps grows
    # (bubbles at large eps); the change back is located like any other

    def dip(e):
        r = 0.9 if 0.1 <= e < 0.3 else 0.5
        return {"robust": 0.0, "pointwise": 1.0, "universal": 1.0, "random": r}
    found = locate_changes(dip, 0.8, stop=EPS_MAX, hints=[0.0833, 0.1, 0.2833, 0.3])
    _check(found, [(0.1, 3, 4), (0.3, 4, 3)])


def test_tau_at_or_below_a_half_has_no_rung_between_1_and_2():
    found = locate_changes(_linear({"pointwise": 0.1, "universal": 0.2, "random": 0.3}), 0.5,
                           stop=EPS_MAX, hints=[0.01, 0.1])
    assert found.changes[0].before == 1 and found.changes[0].after == 2
    assert found.changes[0].skipped == ()
    assert set(LADDER) == {1, "1-2", 2, 3, 4}


# --- against a fine scan of the exact values -------------------------------------------

N_POINTS = 40
SMALL = TrainConfig(width=16, depth=2, steps=150)   # cheap to train and to measure


@functools.cache
def _model(name: str):
    with jax.numpy_dtype_promotion("standard"):
        return train(get_task(name), SMALL).logits_fn


def _fine_verdicts(logits_fn, x, profile, norm, eps, tau):
    """The verdict at every eps of ``eps``, by the program the search measured with."""
    return [verdict(exact_at(logits_fn, x, profile, norm=norm, eps=float(e)), tau) for e in eps]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_stated_changes_against_a_fine_scan(name):
    """Every change the search states is within PRECISION of the true one, and no
    category holding over an interval wider than PRECISION is left out.

    The fine scan measures the verdict with exact_at at every multiple of PRECISION, at
    both ends ``lo``, ``hi`` of every change and one PRECISION either side of the value
    the page shows (rounded to 3 decimals). An interval wider than PRECISION either holds
    an end of a change (``hi - lo <= PRECISION``) or lies beside them and holds a multiple
    of PRECISION: so outside the changes' open intervals ``(lo, hi)`` every verdict of the
    scan must be the one stated there.
    """
    logits_fn, task = _model(name), get_task(name)
    x, y = task.sample(jax.random.key(3), N_POINTS)
    tau = 0.8
    for norm in ("2", "inf"):
        profile = scan_profile(logits_fn, x, y, norm=norm, eps_max=EPS_MAX)
        radii = np.asarray(profile.radii)
        curves = {k: np.asarray(getattr(profile, k)) for k in
                  ("robust", "pointwise", "universal", "random")}
        found = locate_changes(
            lambda e: exact_at(logits_fn, x, profile, norm=norm, eps=e), tau,
            stop=EPS_MAX, hints=grid_hints(radii, curves, tau))
        shown = [round(c.eps, 3) for c in found.changes]
        scan = np.unique(np.round(np.concatenate([
            np.arange(1, round(EPS_MAX / PRECISION) + 1) * PRECISION,
            [e for c in found.changes for e in (c.lo, c.hi)],
            [e + d for e in shown for d in (-PRECISION, PRECISION)]]), 9))
        scan = scan[(scan >= found.start) & (scan <= EPS_MAX)]
        fine = dict(zip(scan.tolist(), _fine_verdicts(logits_fn, x, profile, norm, scan, tau)))
        for c, e in zip(found.changes, shown):   # the true change within PRECISION of e
            assert c.hi - c.lo <= PRECISION + 1e-9
            assert fine[round(e - PRECISION, 9)] == c.before, (name, norm, c)
            assert fine[round(e + PRECISION, 9)] == c.after, (name, norm, c)
        verdicts = [found.first] + [c.after for c in found.changes]
        for e, v in fine.items():                # elsewhere, the verdict stated there
            if any(c.lo < e < c.hi for c in found.changes):
                continue
            passed = sum(c.hi <= e + 1e-12 for c in found.changes)
            assert v == verdicts[passed], (name, norm, e, v, found.changes)
