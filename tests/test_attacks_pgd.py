"""PGD with random restarts: inside B_eps, at least as strong as FGSM, exact on linear models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fgsm import fgsm
from attacks.fooling import fooling_rate, margin_loss, predict
from attacks.norms import lp_norm
from attacks.pgd import pgd
from attack_tasks import TRACES, linear_distances, linear_model, mlp_task, normal_points, perturbed

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")

CONFIG = dict(steps=10, restarts=2)   # one compilation per norm for the MLP tests


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_pgd_stays_in_the_ball_and_beats_fgsm(norm):
    f, x, _ = mlp_task(n=300)
    eps = 0.15
    delta = pgd(f, x, norm=norm, eps=eps, key=jax.random.key(0), **CONFIG)
    assert delta.shape == x.shape
    assert float(lp_norm(delta, norm).max()) <= eps * (1 + 1e-5)
    pgd_rate = float(fooling_rate(f, x, delta))
    fgsm_rate = float(fooling_rate(f, x, fgsm(f, x, norm=norm, eps=eps)))
    assert pgd_rate >= fgsm_rate and pgd_rate > 0.1
    # The clean point is a candidate, so no point ends with a lower margin.
    y = predict(f, x)
    gain = margin_loss(f(x + delta), y) - margin_loss(f(x), y)
    assert float(jnp.min(gain)) > -1e-4 and float(jnp.mean(gain)) > 0


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_pgd_reaches_the_exact_pointwise_rate_of_a_linear_model(norm):
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(200, 5, seed=4)
    eps = 0.3
    exact = float(jnp.mean((linear_distances(f, x, norm) <= eps).astype(jnp.float32)))
    delta = pgd(f, x, norm=norm, eps=eps, key=jax.random.key(5), steps=20, restarts=3)
    rate = float(fooling_rate(f, x, delta))
    assert exact - 0.02 <= rate <= exact          # nothing farther than eps is ever fooled


def test_pgd_default_step_determinism_and_no_recompilation():
    f, x, _ = mlp_task(n=300)
    key = jax.random.key(0)
    a = pgd(f, x, norm="2", eps=0.15, key=key, **CONFIG)
    np.testing.assert_array_equal(a, pgd(f, x, norm="2", eps=0.15, key=key, **CONFIG))
    b = pgd(f, x, norm="2", eps=0.15, key=key, step_size=2.5 * 0.15 / 10, **CONFIG)
    np.testing.assert_allclose(a, b, atol=1e-7)          # the default is 2.5 eps / steps
    traced = TRACES["mlp"]
    c = pgd(perturbed(f), x, norm="2", eps=0.1, key=key, step_size=0.001, **CONFIG)
    assert TRACES["mlp"] == traced                       # new eps, step and parameters
    assert not np.allclose(b, c)


def test_pgd_rejects_bad_counts():
    with pytest.raises(ValueError, match="steps and restarts"):
        pgd(linear_model(), jnp.zeros((2, 5)), norm=2, eps=0.1, key=jax.random.key(0), steps=0)
