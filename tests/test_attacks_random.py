"""Random perturbations on S_eps: their fooling rate is the quadrature of category 4."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fooling import fooling_rate
from attacks.norms import lp_norm
from attacks.random import random_perturbation
from attack_tasks import images, ring_task

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


def test_random_perturbations_lie_on_the_sphere():
    x = images()
    for norm in ("2", "inf"):
        d = random_perturbation(None, x, norm=norm, eps=0.25, key=jax.random.key(0))
        assert d.shape == x.shape
        np.testing.assert_allclose(lp_norm(d, norm), 0.25, rtol=1e-5)


def test_same_key_same_numbers():
    x = jnp.zeros((8000, 2))
    a = random_perturbation(None, x, norm=2, eps=0.1, key=jax.random.key(3))
    b = random_perturbation(None, x, norm=2, eps=0.1, key=jax.random.key(3))
    c = random_perturbation(None, x, norm=2, eps=0.1, key=jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _ring_random_rate(norm, radius, eps, m=200000):
    """P(|x + delta| > 1) for |x| = radius, delta uniform on S_eps, by quadrature."""
    t = (np.arange(m) + 0.5) / m
    if norm == "2":
        a = 2 * np.pi * t
        d = eps * np.stack([np.cos(a), np.sin(a)], 1)
    else:                                    # the square's perimeter, uniform by arc length
        s = 8 * eps * t
        side, u = np.floor(s / (2 * eps)), s % (2 * eps) - eps
        d = np.select([side[:, None] == k for k in range(4)],
                      [np.stack([np.full(m, eps), u], 1), np.stack([-u, np.full(m, eps)], 1),
                       np.stack([np.full(m, -eps), -u], 1), np.stack([u, np.full(m, -eps)], 1)])
    return np.mean(np.linalg.norm(np.array([radius, 0.0]) + d, axis=1) > 1)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fooling_rate_matches_quadrature_on_the_ring(norm):
    f, x, eps = ring_task()                      # 400 points, 20 draws each
    x = jnp.tile(x, (20, 1))
    expected = _ring_random_rate(norm, 1.0 - 0.5 * eps, eps)
    delta = random_perturbation(f, x, norm=norm, eps=eps, key=jax.random.key(1))
    rate = float(fooling_rate(f, x, delta))
    assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / 8000)
