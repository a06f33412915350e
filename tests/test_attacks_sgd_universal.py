"""Universal perturbations by stochastic gradient ascent (Shafahi et al. 2020 style)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fooling import fooling_rate
from attacks.norms import lp_norm
from attacks.random import random_perturbation
from attacks.sgd_universal import sgd_universal, sgd_universal_step
from attack_tasks import TRACES, bands_task, mlp_task, perturbed, task_optimum

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_sgd_universal_on_the_trained_mlp(norm):
    f, x, eps = mlp_task()
    v = sgd_universal(f, x, norm=norm, eps=eps, key=jax.random.key(0))
    assert v.shape == (2,)
    assert float(lp_norm(v[None], norm)[0]) <= eps * (1 + 1e-5)
    rate = float(fooling_rate(f, x, v))
    # Measured on the four 2D tasks (2 data sets x 3 keys): worst 0.988 of the optimum; an
    # earlier version of the tasks had a worst case of 0.85, hence the margin.
    assert rate >= 0.8 * task_optimum("mlp", norm)
    xs = jnp.tile(x, (20, 1))
    noise = random_perturbation(f, xs, norm=norm, eps=eps, key=jax.random.key(1))
    assert rate >= float(fooling_rate(f, xs, noise))


def test_streaming_steps_fool_the_bands():
    f, x, eps = bands_task()
    v = jnp.zeros((2,))
    for batch in jnp.split(x[:320], 10):
        v = sgd_universal_step(f, v, batch, norm=2, eps=eps, step_size=eps / 2)
        assert float(lp_norm(v[None], 2)[0]) <= eps * (1 + 1e-5)
    assert float(fooling_rate(f, x, v)) == 1.0


def test_clip_zero_ignores_fooled_points():
    # All points already fooled (labels are the wrong class): a clipped margin has no
    # gradient, so v does not move; uncapped, it keeps pushing.
    f, x, eps = bands_task()
    wrong = 1 - jnp.argmax(f(x), axis=1).astype(jnp.int32)
    v0 = jnp.array([0.01, 0.02])
    same = sgd_universal_step(f, v0, x, wrong, norm="inf", eps=eps, step_size=0.05, clip=0.0)
    np.testing.assert_array_equal(same, v0)
    moved = sgd_universal_step(f, v0, x, wrong, norm="inf", eps=eps, step_size=0.05)
    assert not np.array_equal(moved, v0)


def test_sgd_universal_is_deterministic_and_does_not_recompile():
    f, x, eps = mlp_task()
    key = jax.random.key(5)
    sgd_universal(f, x, norm="inf", eps=eps, key=key)            # compiled by now
    traced = TRACES["mlp"]
    a = sgd_universal(perturbed(f), x, norm="inf", eps=0.7 * eps, key=key, max_passes=2,
                      clip=1.0, target_rate=0.9)
    b = sgd_universal(perturbed(f), x, norm="inf", eps=0.7 * eps, key=key, max_passes=2,
                      clip=1.0, target_rate=0.9)
    assert TRACES["mlp"] == traced
    np.testing.assert_array_equal(a, b)
