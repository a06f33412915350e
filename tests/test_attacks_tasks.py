"""The 2D test tasks of :mod:`attack_tasks` are what their geometry says: the brute-force
universal optimum of each is known or bounded, and the trained MLP fits its data."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from attack_tasks import (blob_points, bands_task, exact_universal, ring_task, task_optimum,
                          trained_mlp)

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")

@pytest.mark.parametrize("norm", ["2", "inf"])
def test_bands_optimum_is_one(norm):
    f, x, eps = bands_task()
    rate, delta = exact_universal(f, x, norm, eps)
    assert rate == 1.0 == task_optimum("bands", norm)
    assert delta[1] > 0.9 * eps - 1e-6          # pushes up past the largest gap


def test_ring_optimum_is_about_a_third():
    f, x, eps = ring_task()
    rate = task_optimum("ring", "2")
    # A shift by eps flips the points |x + delta| > 1, angles within
    # arccos((1 - r^2 - eps^2) / (2 r eps)) of it: 36% of a uniform ring; the best arc of
    # 400 random angles holds a few points more.
    r = 1.0 - 0.5 * eps
    arc = math.acos((1 - r * r - eps * eps) / (2 * r * eps)) / math.pi
    assert arc <= rate <= arc + 0.07
    linf_rate, delta = exact_universal(f, x, "inf", eps)
    assert linf_rate > rate                      # a corner of the cube reaches further
    assert np.abs(delta).max() == pytest.approx(eps) and np.abs(delta).min() > 0.5 * eps  # diagonal


def test_blob_tasks_are_nontrivial():
    for name in ("wavy_blobs", "mlp"):
        assert 0.1 < task_optimum(name, "2") < task_optimum(name, "inf") < 0.9


def test_trained_mlp_fits_its_data():
    f = trained_mlp()
    x, y, _ = blob_points(7, 500)
    accuracy = float(jnp.mean((jnp.argmax(f(x), axis=1) == y).astype(jnp.float32)))
    assert accuracy > 0.85
