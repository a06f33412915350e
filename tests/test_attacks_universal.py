"""Universal perturbations (Algorithm 1, batched): near the brute-force 2D optimum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fooling import fooling_rate
from attacks.norms import lp_norm
from attacks.random import random_perturbation
from attacks.universal import universal_perturbation, universal_update
from attack_tasks import TASKS, TRACES, bands_task, mlp_task, perturbed, ring_task, task_optimum

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


@pytest.mark.parametrize("norm", ["2", "inf"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_universal_reaches_95_percent_of_the_exact_optimum(task, norm):
    f, x, eps = TASKS[task]()
    v = universal_perturbation(f, x, norm=norm, eps=eps, key=jax.random.key(0))
    assert v.shape == (2,)
    assert float(lp_norm(v[None], norm)[0]) <= eps * (1 + 1e-5)
    rate = float(fooling_rate(f, x, v))
    assert rate >= 0.95 * task_optimum(task, norm)
    # ... and beats random perturbations of the same size (20 draws per point).
    xs = jnp.tile(x, (20, 1))
    noise = random_perturbation(f, xs, norm=norm, eps=eps, key=jax.random.key(1))
    assert rate >= float(fooling_rate(f, xs, noise))


def test_the_best_perturbation_seen_is_returned_not_the_last():
    # One pass: replay each restart's order with universal_update, batch by batch.
    f, x, eps = ring_task()
    key = jax.random.key(3)
    v = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=1)
    trajectories = []
    for k in jax.random.split(key, 4):                       # the 4 default restarts
        order = jax.random.permutation(jax.random.split(k)[1], x.shape[0])
        seen, w = [], jnp.zeros((2,))
        for batch in jnp.split(x[order], x.shape[0] // 16):
            w = universal_update(f, w, batch, norm=2, eps=eps)
            seen.append(float(fooling_rate(f, x, w)))
        trajectories.append(seen)
    rate = float(fooling_rate(f, x, v))
    assert rate == pytest.approx(max(max(t) for t in trajectories), abs=1e-6)
    assert any(t[-1] < max(t) for t in trajectories)          # the ring makes the last worse


def test_target_rate_stops_at_the_first_update_that_reached_it():
    # a target any update reaches: every restart makes its first update (on the first
    # mini-batch of its own order) and the run stops there, keeping the best of the four
    f, x, eps = ring_task()
    key, labels = jax.random.key(4), jnp.argmax(f(x), axis=1)
    stopped = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=5,
                                     target_rate=1e-6)
    firsts = []
    for k in jax.random.split(key, 4):          # best_of_restarts' keys, one_pass's split
        _, k_order = jax.random.split(k)
        batch = jax.random.permutation(k_order, x.shape[0])[:16]
        firsts.append(universal_update(f, jnp.zeros((2,)), x[batch], labels[batch], norm=2,
                                       eps=eps))
    rates = [float(fooling_rate(f, x, v)) for v in firsts]
    assert max(rates) > 0
    np.testing.assert_allclose(stopped, firsts[int(np.argmax(rates))], rtol=1e-5, atol=1e-7)
    one_pass = universal_perturbation(f, x, norm=2, eps=eps, key=key, max_passes=1)
    assert float(fooling_rate(f, x, one_pass)) > max(rates)   # a whole pass goes further


def test_streaming_updates_fool_the_bands():
    f, x, eps = bands_task()
    v = jnp.zeros((2,))
    for batch in jnp.split(x[:160], 10):
        v = universal_update(f, v, batch, norm=2, eps=eps)
        assert float(lp_norm(v[None], 2)[0]) <= eps * (1 + 1e-6)
    assert float(fooling_rate(f, x, v)) == 1.0


def test_one_point_at_a_time_is_the_original_algorithm():
    # chunk=1: each point sees the v left by the previous one. On the bands the first
    # point pushes v up just past its gap, so the points with smaller gaps are skipped.
    f, x, eps = bands_task()
    batch = x[:16]
    gaps = np.ceil(batch[:, 1]) - np.asarray(batch[:, 1])
    v = universal_update(f, jnp.zeros((2,)), batch, norm=2, eps=eps, overshoot=0.0, chunk=1)
    assert gaps[0] <= float(v[1]) <= gaps.max() + 1e-3
    assert abs(float(v[0])) < 1e-6
    # The batched sum over all sixteen overshoots to the sphere.
    summed = universal_update(f, jnp.zeros((2,)), batch, norm=2, eps=eps, overshoot=0.0)
    np.testing.assert_allclose(summed, [0.0, eps], atol=1e-6)


def test_reach_leaves_out_points_beyond_it():
    # The bands' gaps are 0.3-0.9 eps: with reach 0.25 nobody contributes.
    f, x, eps = bands_task()
    v = universal_update(f, jnp.zeros((2,)), x[:16], norm=2, eps=eps, reach=0.25)
    np.testing.assert_array_equal(v, 0.0)


def test_universal_is_deterministic_and_does_not_recompile():
    f, x, eps = mlp_task()
    key = jax.random.key(0)
    universal_perturbation(f, x, norm=2, eps=eps, key=key)        # compiled by now
    traced = TRACES["mlp"]
    a = universal_perturbation(perturbed(f), x, norm=2, eps=0.8 * eps, key=key, max_passes=3,
                               overshoot=0.1, focus_reach=2.0)
    b = universal_perturbation(perturbed(f), x, norm=2, eps=0.8 * eps, key=key, max_passes=3,
                               overshoot=0.1, focus_reach=2.0)
    assert TRACES["mlp"] == traced
    np.testing.assert_array_equal(a, b)


def test_universal_rejects_bad_arguments():
    f, x, _ = bands_task()
    with pytest.raises(ValueError, match="aggregate"):
        universal_perturbation(f, x, norm=2, eps=0.1, key=jax.random.key(0), aggregate="max")
    with pytest.raises(ValueError, match="chunk"):
        universal_update(f, jnp.zeros(2), x[:16], norm=2, eps=0.1, chunk=3)
    with pytest.raises(ValueError, match="v must have shape"):
        universal_update(f, jnp.zeros(3), x[:16], norm=2, eps=0.1)
    with pytest.raises(ValueError, match="mask must have shape"):
        universal_update(f, jnp.zeros(2), x[:16], norm=2, eps=0.1, mask=jnp.ones(15, bool))


def test_masked_rows_are_left_out_and_fooled_rows_are_reported():
    f, x, eps = mlp_task()
    batch = x[:16]
    mask = jnp.arange(16) % 3 != 0
    v0 = universal_perturbation(f, x, norm=2, eps=eps, key=jax.random.key(0), max_passes=1)
    v, fooled = universal_update(f, v0, batch, norm=2, eps=eps, mask=mask, with_fooled=True)
    ref = universal_update(f, v0, batch[mask], norm=2, eps=eps)
    np.testing.assert_allclose(v, ref, rtol=1e-6, atol=1e-7)
    labels = jnp.argmax(f(batch), -1)
    moved = jnp.argmax(f(batch + v0), -1)
    np.testing.assert_array_equal(fooled, mask & (moved != labels))
    assert 0 < int(jnp.sum(fooled)) < int(jnp.sum(mask))  # the check is not vacuous
