"""The pass loop shared by both universal algorithms: orders, padding, best seen, restarts."""

import jax
import jax.numpy as jnp
import numpy as np

from attacks.passes import RESTARTS, best_of_restarts, best_over_passes, fooled_share


def two_classes(x):
    return jnp.stack([jnp.zeros(x.shape[0]), x[:, 0]], axis=1)


X = jnp.array([[0.5, 0.0], [0.25, 0.0], [-0.5, 0.0], [1.5, 0.0], [0.75, 0.0]])
LABELS = jnp.argmax(two_classes(X), axis=1)


def test_every_row_is_visited_once_per_pass_and_padding_is_masked():
    def update(p, v, idx, ok):
        # v[0] steps left (each step fools one more point: the rate rises, so the best v is
        # the last); v[1], which the classifier ignores, adds up 2^idx of the real rows
        visits = jnp.sum(jnp.where(ok, jnp.exp2(idx.astype(jnp.float32)), 0.0))
        return v + jnp.stack([jnp.float32(-0.6), visits])

    best, rate = best_over_passes(two_classes, X, LABELS, jnp.zeros(2), jax.random.key(0),
                                  update, batch_size=2, max_passes=1, target_rate=2.0)
    np.testing.assert_allclose(best, [-1.8, 1 + 2 + 4 + 8 + 16], rtol=1e-6)
    assert float(rate) == np.float32(0.8)


def test_the_best_v_seen_is_returned_and_the_target_stops_early():
    def update(p, v, idx, ok):  # left, then back right: the middle was best
        return v + jnp.where(p == 0, -0.3, 0.3) * jnp.array([1.0, 0.0])

    best, rate = best_over_passes(two_classes, X, LABELS, jnp.zeros(2), jax.random.key(1), update,
                                  batch_size=2, max_passes=2, target_rate=1.0)
    assert float(rate) == float(fooled_share(two_classes, X, LABELS, best))
    np.testing.assert_allclose(best, [-0.9, 0.0], atol=1e-6)  # after the 3 updates of pass 0
    # a reachable target stops at the update that reached it, in the middle of a pass:
    # v[1] counts the updates made
    far, r = best_over_passes(two_classes, X, LABELS, jnp.zeros(2), jax.random.key(1),
                              lambda p, v, idx, ok: v + jnp.array([-0.3, 1.0]),
                              batch_size=1, max_passes=10, target_rate=0.5)
    np.testing.assert_allclose(far, [-0.9, 3.0], atol=1e-6)  # update 3 of 5 reached 0.6: stop
    assert float(r) == np.float32(0.6)


def test_restarts_all_stop_once_one_reached_the_target():
    def run(speed, across=RESTARTS):  # steps left by `speed` per update; v[1] counts updates
        return best_over_passes(two_classes, X, LABELS, jnp.zeros(2), jax.random.key(0),
                                lambda p, v, idx, ok: v + jnp.stack([-speed, jnp.float32(1)]),
                                batch_size=1, max_passes=10, target_rate=0.6, across=across)

    # 0.6 of X (three of its four positive points) needs v[0] < -0.75: 3 updates at speed 0.3
    vs, rates = jax.vmap(run, axis_name=RESTARTS)(jnp.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(rates, [0.2, 0.4, 0.6], atol=1e-6)
    np.testing.assert_allclose(vs, [[-0.3, 3.0], [-0.6, 3.0], [-0.9, 3.0]], atol=1e-6)
    # alone, the slowest goes on until it reaches the target itself
    alone, rate = run(jnp.float32(0.1), across=None)
    np.testing.assert_allclose(alone, [-0.8, 8.0], atol=1e-6)
    assert float(rate) == np.float32(0.6)


def test_best_of_restarts_keeps_the_highest_rate():
    def run(key):
        v = jax.random.uniform(key, (2,), minval=-2.0, maxval=0.0)
        return v, fooled_share(two_classes, X, LABELS, v)

    best = best_of_restarts(run, jax.random.key(0), 8)
    vs = [run(k)[0] for k in jax.random.split(jax.random.key(0), 8)]
    rates = [float(fooled_share(two_classes, X, LABELS, v)) for v in vs]
    assert float(fooled_share(two_classes, X, LABELS, best)) == max(rates)
