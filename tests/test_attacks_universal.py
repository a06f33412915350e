"""Universal perturbations (Algorithm 1, batched): near the brute-force 2D optimum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fooling import fooling_rate
from attacks.norms import lp_norm
from attacks.random import random_perturbation
from attacks.universal import universal_perturbation, universal_update
from test_attacks_tasks import (normal_points, TASKS, TRACES, bands_task, linear_model,  # noqa: F401
                                ring_task, strict_dtype_promotion, task_optimum)


@pytest.mark.parametrize("norm", ["2", "inf"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_universal_reaches_95_percent_of_the_exact_optimum(task, norm):
    f, x, eps = TASKS[task]()
    optimum = task_optimum(task, norm)
    v = universal_perturbation(f, x, norm=norm, eps=eps, key=jax.random.key(0))
    assert v.shape == (2,)
    assert float(lp_norm(v[None], norm)[0]) <= eps * (1 + 1e-5)
    rate = float(fooling_rate(f, x, v))
    assert rate >= 0.95 * optimum
    # ... and beats random perturbations of the same size (8 draws per point).
    xs = jnp.tile(x, (8, 1))
    noise = random_perturbation(f, xs, norm=norm, eps=eps, key=jax.random.key(1))
    assert rate >= float(fooling_rate(f, xs, noise))


def test_the_best_perturbation_seen_is_returned_not_the_last():
    # One pass, one restart: replay the same order with universal_update, batch by batch.
    f, x, eps = ring_task()
    key = jax.random.key(3)
    v = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=1, restarts=1)
    _, k_order = jax.random.split(jax.random.split(key, 1)[0])
    order = jax.random.permutation(k_order, x.shape[0])
    seen, w = [], jnp.zeros((2,))
    for batch in jnp.split(x[order], x.shape[0] // 16):
        w = universal_update(f, w, batch, norm=2, eps=eps)
        seen.append(float(fooling_rate(f, x, w)))
    rate = float(fooling_rate(f, x, v))
    assert rate == pytest.approx(max(seen), abs=1e-6)
    assert rate > seen[-1]                     # the ring makes the last one worse


def test_target_rate_stops_after_the_pass_that_reached_it():
    f, x, eps = ring_task()
    key = jax.random.key(4)
    one_pass = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=1,
                                      batch_size=64)
    stopped = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=5,
                                     batch_size=64, target_rate=1e-6)
    np.testing.assert_array_equal(one_pass, stopped)


def test_streaming_updates_fool_the_bands():
    f, x, eps = bands_task()
    v = jnp.zeros((2,))
    for batch in jnp.split(x[:320], 10):
        v = universal_update(f, v, batch, norm="inf", eps=eps, top_k=2, overshoot=0.02,
                             max_iter=10)
        assert float(jnp.max(jnp.abs(v))) <= eps * (1 + 1e-6)
    assert float(fooling_rate(f, x, v)) == 1.0


def test_one_point_at_a_time_is_the_original_algorithm():
    # chunk=1: each point sees the v left by the previous one. On the bands the first
    # point pushes v up past its gap, so later points with smaller gaps are skipped.
    f, x, eps = bands_task()
    v = universal_update(f, jnp.zeros((2,)), x[:8], norm=2, eps=eps, top_k=2, overshoot=0.0,
                         max_iter=10, chunk=1)
    gaps = np.ceil(x[:8, 1]) - np.asarray(x[:8, 1])
    first = gaps[0] + 1e-4
    assert float(v[1]) >= first - 1e-5 and float(v[1]) <= gaps.max() + 1e-3
    # The batched sum over all eight overshoots to the sphere.
    summed = universal_update(f, jnp.zeros((2,)), x[:8], norm=2, eps=eps, top_k=2,
                              overshoot=0.0, max_iter=10)
    np.testing.assert_allclose(float(summed[1]), eps, rtol=1e-5)


def test_universal_is_deterministic_and_does_not_recompile():
    x = normal_points(64, 5, seed=0)
    key = jax.random.key(5)
    universal_perturbation(linear_model(seed=1, counting=True), x, norm=2, eps=0.5, key=key,
                           max_passes=2)
    traced = TRACES["linear"]
    f2 = linear_model(seed=2, counting=True)
    a = universal_perturbation(f2, x, norm=2, eps=0.8, key=key, max_passes=2, overshoot=0.1)
    b = universal_perturbation(f2, x, norm=2, eps=0.8, key=key, max_passes=2, overshoot=0.1)
    assert TRACES["linear"] == traced
    np.testing.assert_array_equal(a, b)


def test_universal_rejects_bad_arguments():
    f, x = linear_model(), jnp.zeros((8, 5))
    with pytest.raises(ValueError, match="aggregate"):
        universal_perturbation(f, x, norm=2, eps=0.1, key=jax.random.key(0), aggregate="max")
    with pytest.raises(ValueError, match="chunk"):
        universal_update(f, jnp.zeros(5), x, norm=2, eps=0.1, chunk=3)
    with pytest.raises(ValueError, match="v must have shape"):
        universal_update(f, jnp.zeros(4), x, norm=2, eps=0.1)
