"""PGD with random restarts: inside B_eps, at least as strong as FGSM, exact on linear models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fgsm import fgsm
from attacks.fooling import fooling_rate, margin_loss, predict
from attacks.norms import lp_norm
from attacks.pgd import pgd
from test_attacks_tasks import (normal_points, TRACES, linear_distances, linear_model,  # noqa: F401
                                mlp_task, strict_dtype_promotion)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_pgd_stays_in_the_ball_and_beats_fgsm(norm):
    f, x, _ = mlp_task(n=300)
    eps = 0.15
    key = jax.random.key(0)
    delta = pgd(f, x, norm=norm, eps=eps, key=key, steps=10, restarts=2)
    assert delta.shape == x.shape
    assert float(lp_norm(delta, norm).max()) <= eps * (1 + 1e-5)
    pgd_rate = float(fooling_rate(f, x, delta))
    fgsm_rate = float(fooling_rate(f, x, fgsm(f, x, norm=norm, eps=eps)))
    assert pgd_rate >= fgsm_rate and pgd_rate > 0.1
    y = predict(f, x)
    gain = margin_loss(f(x + delta), y) - margin_loss(f(x), y)
    assert float(jnp.min(gain)) > -1e-4 and float(jnp.mean(gain)) > 0   # best iterate kept


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_pgd_reaches_the_exact_pointwise_rate_of_a_linear_model(norm):
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(200, 5, seed=4)
    eps = 0.3
    exact = float(jnp.mean((linear_distances(f, x, norm) <= eps).astype(jnp.float32)))
    delta = pgd(f, x, norm=norm, eps=eps, key=jax.random.key(5), steps=20, restarts=3)
    assert float(fooling_rate(f, x, delta)) >= exact - 0.02
    # It never fools a point farther than eps, of course.
    assert float(fooling_rate(f, x, delta)) <= exact


def test_pgd_default_step_is_two_and_a_half_eps_over_steps():
    f, x, _ = mlp_task(n=300)
    key = jax.random.key(0)
    a = pgd(f, x, norm="2", eps=0.15, key=key, steps=10, restarts=2)
    b = pgd(f, x, norm="2", eps=0.15, key=key, steps=10, restarts=2, step_size=2.5 * 0.15 / 10)
    c = pgd(f, x, norm="2", eps=0.15, key=key, steps=10, restarts=2, step_size=0.001)
    np.testing.assert_allclose(a, b, atol=1e-7)
    assert not np.allclose(a, c)


def test_pgd_is_deterministic_and_does_not_recompile():
    x = normal_points(64, 5, seed=0)
    key = jax.random.key(7)
    pgd(linear_model(seed=1, counting=True), x, norm=2, eps=0.1, key=key, steps=5, restarts=2,
        step_size=0.01)
    traced = TRACES["linear"]
    f2 = linear_model(seed=2, counting=True)
    a = pgd(f2, x, norm=2, eps=0.3, key=key, steps=5, restarts=2, step_size=0.05)
    b = pgd(f2, x, norm=2, eps=0.3, key=key, steps=5, restarts=2, step_size=0.07)
    c = pgd(f2, x, norm=2, eps=0.3, key=key, steps=5, restarts=2, step_size=0.05)
    assert TRACES["linear"] == traced
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_pgd_rejects_bad_counts():
    with pytest.raises(ValueError, match="steps and restarts"):
        pgd(linear_model(), jnp.zeros((2, 5)), norm=2, eps=0.1, key=jax.random.key(0), steps=0)
